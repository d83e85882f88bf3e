// Table shapes of the controller's store. One query layer (Kysely) over two
// dialects: SQLite (embedded default) and PostgreSQL (production, several
// controller replicas). Only portable column types are used.
import type { Generated } from 'kysely';
import type { BackupsTable } from '../backups/schema.js';
import type { ConfigurationsTable } from '../configurations/schema.js';
import type { PublishedLogsTable } from '../logs/schema.js';

export interface InstancesTable {
  id: string;
  tenant_id: string;
  name: string;
  datastore: string;
  datastore_version: string;
  memory_mb: number;
  task: string; // InstanceTask name, e.g. "BUILDING", "BUILDING_ERROR"
  task_message: string;
  host: string;
  port: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  /** The replica set it belongs to (controller/replication), and the instance it replicates from when it is a replica. */
  replica_set_id: string | null;
  replica_of: string | null;
  /** Its configuration group (controller/configurations), and JSON list of the group's parameters awaiting a restart. */
  configuration_id: string | null;
  pending_restart: string;
  /** The data volume the provisioner manages, in MB (0: none). */
  volume_size_mb: number;
}

export interface OperationsTable {
  id: string;
  instance_id: string;
  kind: string; // an OperationKind (managers/sdk/operations/table.ts)
  state: number; // OperationState
  progress: number;
  message: string;
  command: Buffer | null; // the encoded Command, re-sent after an agent reconnects
  result: Buffer | null;
  error_code: string | null; // an ErrorCode name (managers/sdk/errors.ts)
  error_message: string | null;
  deadline_at: number; // unix ms
  bytes_done: number; // work measured in bytes, as the agent reported it
  bytes_total: number;
  created_at: string;
  updated_at: string;
}

export interface AgentsTable {
  instance_id: string;
  last_heartbeat_at: string | null;
  status: number; // DatastoreStatus
  facts: string; // JSON object
  agent_version: string;
  datastore: string;
  datastore_version: string;
  capabilities: string; // JSON array
  heartbeat_interval_ms: number;
  acked_seq: number; // highest outbox sequence applied from this agent
  /** The agent's last ReplicationStatus (JSON of the proto message), or null outside a replica set. */
  replication: string | null;
  /** How long its primary keeps taking writes without word from the controller (Hello). */
  write_lease_ms: number;
}

/** A primary and its replicas (controller/replication/). */
export interface ReplicaSetsTable {
  id: string;
  tenant_id: string;
  datastore: string;
  primary_id: string;
  /** Incremented at every promotion; every replication command carries it. */
  term: number;
  synchronous: number; // 0 | 1
  failover: string; // "auto" | "manual"
  /** The most a replica may lag (the datastore's unit) to be promoted without a force. */
  max_lag: number;
  credentials: string; // sealed JSON {user, password}
  /** The new primary's position when it was promoted: what a rejoining former primary may not go beyond. */
  promoted_at: string;
  /** JSON list of former primaries that must rejoin when they come back. */
  rejoin_pending: string;
  task: string; // ReplicaSetTask name
  task_message: string;
  /** Why automatic failover would be refused now (a lagging best replica), for the user. */
  status_message: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface LocalAgentsTable {
  instance_id: string;
  state_dir: string;
  pid: number;
  health_port: number;
}

/** Certificates the CA issued to agents; a revoked serial can no longer connect. */
export interface CertificatesTable {
  serial: string;
  instance_id: string;
  kind: string; // "agent" | "datastore"
  not_after: string;
  revoked_at: string | null;
  created_at: string;
}

/** One-time enrollment tokens, kept only as SHA-256 hashes. */
export interface EnrollmentTokensTable {
  token_hash: string;
  instance_id: string;
  expires_at: number; // unix ms
  used_at: string | null;
  created_at: string;
}

/** Public API bearer tokens, kept only as SHA-256 hashes. */
export interface ApiTokensTable {
  id: string;
  token_hash: string;
  tenant_id: string;
  name: string;
  admin: number; // 0 | 1 (portable boolean)
  created_at: string;
  revoked_at: string | null;
}

/**
 * Notifications waiting for (or kept after) delivery, written in the same
 * transaction as the state change they report. `seq` orders delivery and is
 * the Watch cursor; `order_key` is the resource whose events must stay in order.
 */
export interface NotificationOutboxTable {
  seq: Generated<number>;
  message_id: string;
  event_type: string; // e.g. "instance.create.end"
  priority: string; // "INFO" | "ERROR"
  publisher_id: string;
  resource_kind: string; // "instance" | "user" | "database" | "root" | "backup" | "cluster"
  resource_id: string;
  order_key: string;
  tenant_id: string;
  payload: string; // JSON object
  timestamp: string; // UTC, oslo.messaging's "YYYY-MM-DD HH:MM:SS.ffffff"
  created_at: string; // ISO 8601, for retention
}

/** Per-sink state of the events above a sink's cursor that were tried or delivered. */
export interface NotificationDeliveriesTable {
  sink: string;
  seq: number;
  attempts: number;
  next_attempt_at: number; // unix ms
  last_error: string | null;
  delivered_at: string | null;
}

/** Named positions in the outbox: each sink's "delivered through" and the pruning mark. */
export interface NotificationCursorsTable {
  name: string;
  seq: number;
}

/** A cluster; its shared admin password is sealed with the secret box (never plain). */
export interface ClustersTable {
  id: string;
  tenant_id: string;
  name: string;
  datastore: string;
  task: string; // ClusterTask name, e.g. "GROWING", "GROWING_ERROR"
  task_message: string;
  admin_secret: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface ClusterMembersTable {
  cluster_id: string;
  instance_id: string;
  name: string;
  data_center: string;
  rack: string;
  seed: number; // 0 | 1
  state: string;
  host: string;
  port: number;
  ordinal: number;
}

/** A workflow (cluster change, replica set switchover...), persisted step by step so that a restart resumes it. */
export interface WorkflowsTable {
  id: string;
  family: string; // "cluster" | "replica_set"
  subject_id: string; // the cluster or replica set it changes
  kind: string; // per family: "create" | "grow" | "shrink" | "add_replicas" | "switchover" | ...
  state: string; // "RUNNING" | "SUCCEEDED" | "FAILED"
  step_index: number;
  step_name: string;
  data: string; // JSON: input, keys of what the steps started
  error: string | null;
  created_at: string;
  updated_at: string;
}

export interface DB {
  instances: InstancesTable;
  operations: OperationsTable;
  agents: AgentsTable;
  local_agents: LocalAgentsTable;
  certificates: CertificatesTable;
  enrollment_tokens: EnrollmentTokensTable;
  api_tokens: ApiTokensTable;
  notification_outbox: NotificationOutboxTable;
  notification_deliveries: NotificationDeliveriesTable;
  notification_cursors: NotificationCursorsTable;
  clusters: ClustersTable;
  cluster_members: ClusterMembersTable;
  workflows: WorkflowsTable;
  backups: BackupsTable;
  replica_sets: ReplicaSetsTable;
  configurations: ConfigurationsTable;
  published_logs: PublishedLogsTable;
}
