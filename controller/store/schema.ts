// Table shapes of the controller's store. One query layer (Kysely) over two
// dialects: SQLite (embedded default) and PostgreSQL (production, several
// controller replicas). Only portable column types are used.

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
}

export interface OperationsTable {
  id: string;
  instance_id: string;
  kind: string;
  state: number; // OperationState
  progress: number;
  message: string;
  command: Buffer | null; // the encoded Command, re-sent after an agent reconnects
  result: Buffer | null;
  error_code: string | null;
  error_message: string | null;
  deadline_at: number; // unix ms
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

export interface DB {
  instances: InstancesTable;
  operations: OperationsTable;
  agents: AgentsTable;
  local_agents: LocalAgentsTable;
  certificates: CertificatesTable;
  enrollment_tokens: EnrollmentTokensTable;
  api_tokens: ApiTokensTable;
}
