// The `published_logs` table: copies of datastore logs an operator published
// to the backup storage (controller/logs/service.ts), until discarded.
import { type Kysely, type Migration, sql } from 'kysely';

export type PublishedLogsTable = {
  id: string;
  tenant_id: string;
  instance_id: string;
  name: string; // the log's name, e.g. "slow_query"
  status: string; // "PUBLISHING" | "PUBLISHED" | "FAILED"
  message: string;
  operation_id: string;
  size: number;
  raw_size: number;
  checksum: string;
  location: string;
  compression: string;
  encryption: string;
  wrapped_key: Buffer | null;
  key_ref: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
};

export const publishedLogsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('published_logs')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('name', 'varchar(64)', (c) => c.notNull())
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('operation_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('raw_size', 'bigint', (c) => c.notNull())
      .addColumn('checksum', 'varchar(80)', (c) => c.notNull())
      .addColumn('location', 'text', (c) => c.notNull())
      .addColumn('compression', 'varchar(16)', (c) => c.notNull())
      .addColumn('encryption', 'varchar(80)', (c) => c.notNull())
      .addColumn('wrapped_key', sql`blob`)
      .addColumn('key_ref', 'varchar(80)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('deleted_at', 'varchar(32)')
      .execute();
    await db.schema.createIndex('published_logs_instance').on('published_logs').columns(['instance_id', 'created_at']).execute();
    await db.schema.createIndex('published_logs_operation').on('published_logs').column('operation_id').execute();
  },
};
