// Schema migrations, applied in order at start-up by Kysely's migrator. Append
// new ones; never edit one that has shipped.
import { type Kysely, type Migration, type MigrationProvider, PostgresAdapter, sql } from 'kysely';
import { backupsMigration } from '../backups/schema.js';
import { configurationsMigration } from '../configurations/schema.js';
import { publishedLogsMigration } from '../logs/schema.js';

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('instances')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('datastore', 'varchar(64)', (c) => c.notNull())
        .addColumn('datastore_version', 'varchar(64)', (c) => c.notNull())
        .addColumn('memory_mb', 'integer', (c) => c.notNull())
        .addColumn('task', 'varchar(32)', (c) => c.notNull())
        .addColumn('task_message', 'text', (c) => c.notNull())
        .addColumn('host', 'varchar(255)', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('deleted_at', 'varchar(32)')
        .execute();
      await db.schema.createIndex('instances_tenant').on('instances').columns(['tenant_id', 'deleted_at']).execute();
      await db.schema
        .createTable('operations')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('kind', 'varchar(64)', (c) => c.notNull())
        .addColumn('state', 'integer', (c) => c.notNull())
        .addColumn('progress', 'integer', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('command', sql`blob`)
        .addColumn('result', sql`blob`)
        .addColumn('error_code', 'varchar(32)')
        .addColumn('error_message', 'text')
        .addColumn('deadline_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('operations_instance_state').on('operations').columns(['instance_id', 'state']).execute();
      await db.schema
        .createTable('agents')
        .addColumn('instance_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('last_heartbeat_at', 'varchar(32)')
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('facts', 'text', (c) => c.notNull())
        .addColumn('agent_version', 'varchar(32)', (c) => c.notNull())
        .addColumn('datastore', 'varchar(64)', (c) => c.notNull())
        .addColumn('datastore_version', 'varchar(64)', (c) => c.notNull())
        .addColumn('capabilities', 'text', (c) => c.notNull())
        .addColumn('heartbeat_interval_ms', 'integer', (c) => c.notNull())
        .addColumn('acked_seq', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('local_agents')
        .addColumn('instance_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('state_dir', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('health_port', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  '0002_security': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('certificates')
        .addColumn('serial', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('not_after', 'varchar(32)', (c) => c.notNull())
        .addColumn('revoked_at', 'varchar(32)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('certificates_instance').on('certificates').column('instance_id').execute();
      await db.schema
        .createTable('enrollment_tokens')
        .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('instance_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'varchar(32)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('admin', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('revoked_at', 'varchar(32)')
        .execute();
    },
  },
  '0003_notifications': {
    async up(db: Kysely<unknown>) {
      // The sequence is the Watch cursor and the delivery order: it must be
      // assigned by the database, in commit order.
      const pg = db.getExecutor().adapter instanceof PostgresAdapter;
      await db.schema
        .createTable('notification_outbox')
        .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('message_id', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('event_type', 'varchar(128)', (c) => c.notNull())
        .addColumn('priority', 'varchar(8)', (c) => c.notNull())
        .addColumn('publisher_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('resource_kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('resource_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('order_key', 'varchar(128)', (c) => c.notNull())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('timestamp', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('notification_outbox_resource').on('notification_outbox').columns(['resource_id', 'seq']).execute();
      await db.schema
        .createTable('notification_deliveries')
        .addColumn('sink', 'varchar(32)', (c) => c.notNull())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', 'varchar(32)')
        .addPrimaryKeyConstraint('notification_deliveries_pk', ['sink', 'seq'])
        .execute();
      await db.schema
        .createTable('notification_cursors')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0004_clusters': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('clusters')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('datastore', 'varchar(64)', (c) => c.notNull())
        .addColumn('task', 'varchar(32)', (c) => c.notNull())
        .addColumn('task_message', 'text', (c) => c.notNull())
        .addColumn('admin_secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('deleted_at', 'varchar(32)')
        .execute();
      await db.schema
        .createTable('cluster_members')
        .addColumn('instance_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('cluster_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('data_center', 'varchar(64)', (c) => c.notNull())
        .addColumn('rack', 'varchar(64)', (c) => c.notNull())
        .addColumn('seed', 'integer', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('host', 'varchar(255)', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('ordinal', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('cluster_members_cluster').on('cluster_members').column('cluster_id').execute();
      await db.schema
        .createTable('workflows')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('cluster_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('step_index', 'integer', (c) => c.notNull())
        .addColumn('step_name', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('workflows_state').on('workflows').columns(['state', 'cluster_id']).execute();
    },
  },
  '0005_backups': backupsMigration,
  '0006_operation_bytes': {
    // Work measured in bytes travels as numbers (OperationUpdate.bytes_done/bytes_total), never parsed from a message.
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('operations')
        .addColumn('bytes_done', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('operations')
        .addColumn('bytes_total', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0007_replication': {
    // Replica sets (controller/replication), instances' place in them, the agents' replication
    // reports, and workflows of more than one family (clusters, replica sets).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('workflows').renameColumn('cluster_id', 'subject_id').execute();
      await db.schema
        .alterTable('workflows')
        .addColumn('family', 'varchar(32)', (c) => c.notNull().defaultTo('cluster'))
        .execute();
      await db.schema
        .createTable('replica_sets')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('tenant_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('datastore', 'varchar(64)', (c) => c.notNull())
        .addColumn('primary_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('term', 'bigint', (c) => c.notNull())
        .addColumn('synchronous', 'integer', (c) => c.notNull())
        .addColumn('failover', 'varchar(16)', (c) => c.notNull())
        .addColumn('max_lag', 'bigint', (c) => c.notNull())
        .addColumn('credentials', 'text', (c) => c.notNull())
        .addColumn('promoted_at', 'text', (c) => c.notNull())
        .addColumn('rejoin_pending', 'text', (c) => c.notNull())
        .addColumn('task', 'varchar(32)', (c) => c.notNull())
        .addColumn('task_message', 'text', (c) => c.notNull())
        .addColumn('status_message', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('deleted_at', 'varchar(32)')
        .execute();
      await db.schema.createIndex('replica_sets_tenant').on('replica_sets').columns(['tenant_id', 'deleted_at']).execute();
      await db.schema.alterTable('instances').addColumn('replica_set_id', 'varchar(64)').execute();
      await db.schema.alterTable('instances').addColumn('replica_of', 'varchar(64)').execute();
      await db.schema.alterTable('agents').addColumn('replication', 'text').execute();
      await db.schema
        .alterTable('agents')
        .addColumn('write_lease_ms', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  // The deadline and lost-agent sweeps run every second and look only at unfinished operations:
  // without this they read the whole table, which grows with every operation ever run.
  '0008_operations_state': {
    async up(db) {
      await db.schema.createIndex('operations_state_deadline').on('operations').columns(['state', 'deadline_at']).execute();
    },
  },
  '0009_configurations': configurationsMigration,
  '0010_published_logs': publishedLogsMigration,
  // The data volume a provisioner manages for the instance (0: none).
  '0011_volumes': {
    async up(db) {
      await db.schema
        .alterTable('instances')
        .addColumn('volume_size_mb', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
