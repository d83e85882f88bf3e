// The `backups` table: its row type (part of the store's DB) and its
// migration (0005_backups in store/migrations.ts).
import { type Kysely, type Migration, sql } from 'kysely';

export type BackupsTable = {
  id: string;
  tenant_id: string;
  instance_id: string;
  name: string;
  description: string;
  datastore: string;
  datastore_version: string; // filled from the agent's artifact
  type: string; // "FULL" | "INCREMENTAL"
  parent_id: string | null;
  status: string; // BackupStatusName (status.ts)
  message: string;
  operation_id: string | null;
  size: number | null; // bytes stored
  raw_size: number | null;
  checksum: string | null; // "sha256:<hex>"
  location: string | null;
  compression: string;
  encryption: string | null;
  wrapped_key: Buffer | null;
  key_ref: string | null;
  facts: string; // JSON object (strategy facts, e.g. LSNs)
  storage: string; // JSON: the storage it was written to, without credentials
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  deleted_at: string | null;
  /** The configuration group of the instance when the backup was taken (restored with it unless the restore names another). */
  configuration_id: string | null;
};

export const backupsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('backups')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('name', 'varchar(255)', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('datastore', 'varchar(64)', (c) => c.notNull())
      .addColumn('datastore_version', 'varchar(64)', (c) => c.notNull())
      .addColumn('type', 'varchar(16)', (c) => c.notNull())
      .addColumn('parent_id', 'varchar(64)')
      .addColumn('status', 'varchar(16)', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('operation_id', 'varchar(64)')
      .addColumn('size', 'bigint')
      .addColumn('raw_size', 'bigint')
      .addColumn('checksum', 'varchar(80)')
      .addColumn('location', 'text')
      .addColumn('compression', 'varchar(16)', (c) => c.notNull())
      .addColumn('encryption', 'varchar(80)')
      .addColumn('wrapped_key', sql`blob`)
      .addColumn('key_ref', 'varchar(80)')
      .addColumn('facts', 'text', (c) => c.notNull())
      .addColumn('storage', 'text', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('finished_at', 'varchar(32)')
      .addColumn('deleted_at', 'varchar(32)')
      .execute();
    await db.schema.createIndex('backups_tenant').on('backups').columns(['tenant_id', 'deleted_at']).execute();
    await db.schema.createIndex('backups_instance').on('backups').columns(['instance_id', 'created_at']).execute();
    await db.schema.createIndex('backups_parent').on('backups').column('parent_id').execute();
    await db.schema.createIndex('backups_operation').on('backups').column('operation_id').execute();
  },
};
