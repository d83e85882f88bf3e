// The `configurations` table (configuration groups), and what the migration
// adds elsewhere: the group an instance runs with and the parameters its
// server takes only at its next restart, and the group a backup was taken with.
import type { Kysely, Migration } from 'kysely';

export type ConfigurationsTable = {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  datastore: string;
  values: string; // JSON object of canonical values (managers/sdk/configuration.ts)
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
};

export const configurationsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('configurations')
      .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
      .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
      .addColumn('name', 'varchar(255)', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('datastore', 'varchar(64)', (c) => c.notNull())
      .addColumn('values', 'text', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('deleted_at', 'varchar(32)')
      .execute();
    await db.schema.createIndex('configurations_tenant').on('configurations').columns(['tenant_id', 'deleted_at']).execute();
    await db.schema.alterTable('instances').addColumn('configuration_id', 'varchar(64)').execute();
    await db.schema
      .alterTable('instances')
      .addColumn('pending_restart', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema.createIndex('instances_configuration').on('instances').column('configuration_id').execute();
    await db.schema.alterTable('backups').addColumn('configuration_id', 'varchar(64)').execute();
  },
};
