// The plugin contract (DESIGN.md section 4). A datastore manager is a folder
// with two entry points:
//   agent.ts          default export `AgentManagerModule`: runs next to the datastore
//   orchestration.ts  default export `OrchestrationModule`: loaded by the controller
// Both declare the same capabilities; the controller refuses an operation the
// datastore lacks before anything is sent to an agent.
import type { BackupOps } from './backup/types.js';
import type { ConfigurationOps, ParameterCatalog } from './configuration.js';
import type { LogOps } from './guest-logs.js';
import type { ByteProgress } from './operations/state.js';
import type { Logger } from './logger.js';
import type { ClusterStrategy } from './cluster.js';
import type { ReplicationStrategy } from './replication.js';
import type {
  AttachReplicaRequest,
  PromoteRequest,
  RejoinRequest,
  ReplicationSourceRequest,
  ReplicationStatus,
} from '../../proto/gen/steward/v1/replication.js';
import type { Runner } from './runner.js';
import type { SecretStore } from './secrets.js';
import type { ServiceControl } from './service-control.js';
import type { Access, Database, DatabaseList, DatastoreStatus, MemberInfo, Page, RingView, PrepareRequest, User, UserList, UserRef } from './types.js';

export const CAPABILITIES = [
  'users',
  'databases',
  'root',
  'backup',
  'backup_incremental',
  'replication',
  'cluster',
  'configuration',
  'logs',
  'resize',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** What every manager hands the agent: facts about one running operation. */
export interface OperationScope {
  /** Aborted on cancel or deadline; pass it to every child process and query. */
  readonly signal: AbortSignal;
  /** Report progress (0-100), a human-readable step and, for work measured in bytes, how many are done. */
  progress(percent: number, message: string, bytes?: ByteProgress): void;
}

/** A server certificate for the datastore's own client connections, issued by the controller's CA. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** Where a manager may put things and which services it may use. */
export interface ManagerContext {
  readonly instanceId: string;
  /** The agent's directory for this instance; the manager owns `dataDir`, `configDir`, `runDir` below it. */
  readonly stateDir: string;
  readonly dataDir: string;
  readonly configDir: string;
  /** Sockets and pid files. */
  readonly runDir: string;
  readonly logDir: string;
  readonly bindAddress: string;
  readonly port: number;
  readonly memoryMb: number;
  readonly service: ServiceControl;
  readonly secrets: SecretStore;
  readonly runner: Runner;
  readonly log: Logger;
  /**
   * Writes a fresh server certificate (SANs: the instance's host) and its key
   * into `dir`; absent when the agent runs without TLS (development mode).
   */
  readonly issueTlsCertificate?: (dir: string) => Promise<TlsFiles>;
}

export interface Probe {
  status: DatastoreStatus;
  version: string;
  facts: Record<string, string>;
  /** Where the instance stands in its replica set (managers with capability "replication"). */
  replication?: ReplicationStatus;
}

export interface UserOps {
  create(users: User[], op: OperationScope): Promise<void>;
  list(page: Page, op: OperationScope): Promise<UserList>;
  get(ref: UserRef, op: OperationScope): Promise<User>;
  delete(ref: UserRef, op: OperationScope): Promise<void>;
  changePassword(ref: UserRef, password: string, op: OperationScope): Promise<void>;
  grant(ref: UserRef, databases: string[], op: OperationScope): Promise<void>;
  revoke(ref: UserRef, databases: string[], op: OperationScope): Promise<void>;
  listAccess(ref: UserRef, op: OperationScope): Promise<Access[]>;
}

export interface DatabaseOps {
  create(databases: Database[], op: OperationScope): Promise<void>;
  list(page: Page, op: OperationScope): Promise<DatabaseList>;
  /** `force`: end live sessions first instead of refusing (where the datastore refuses). */
  delete(name: string, op: OperationScope, options?: { force?: boolean }): Promise<void>;
}

export interface RootOps {
  /** Creates or resets the root account; the password is returned once and never stored by the controller. */
  enable(op: OperationScope): Promise<{ user: string; password: string }>;
  disable(op: OperationScope): Promise<void>;
  status(op: OperationScope): Promise<{ enabled: boolean; user: string }>;
}

/** Cluster member operations (capability "cluster"); each acts on this member only. */
export interface ClusterOps {
  memberInfo(op: OperationScope): Promise<MemberInfo>;
  /** Takes effect on the member's next restart. */
  setSeeds(seeds: string[], op: OperationScope): Promise<void>;
  setAutoBootstrap(enabled: boolean, op: OperationScope): Promise<void>;
  ringView(op: OperationScope): Promise<RingView>;
  cleanup(op: OperationScope): Promise<void>;
  /** Leaves the ring; the member ends stopped and is never started again. */
  decommission(op: OperationScope): Promise<void>;
  storeAdminCredentials(user: string, password: string, op: OperationScope): Promise<void>;
  /** Once per cluster of `members` members (all of which it waits to see): the shared admin role, auth replication, default superuser off. */
  secureCluster(members: number, op: OperationScope): Promise<void>;
}

/**
 * Replication (capability "replication"; docs/replication.md). Every call is
 * idempotent: the controller's workflows re-send a step after a restart. The
 * agent has checked the command's term before any of these runs.
 */
export interface ReplicationOps {
  /** Serve replicas: the replication account, the settings, one slot per replica where the datastore has them. */
  configureSource(req: ReplicationSourceRequest, op: OperationScope): Promise<ReplicationStatus>;
  /** Follow `req`'s source (after a restore, or to re-point); read-only from then on. */
  attach(req: AttachReplicaRequest, op: OperationScope): Promise<ReplicationStatus>;
  /** Stop following and take writes, as a source for `req.source`, without restarting the server where the datastore allows. */
  promote(req: PromoteRequest, op: OperationScope): Promise<ReplicationStatus>;
  /** Refuse writes and end client sessions (kept across a restart until unfenced). */
  fence(op: OperationScope): Promise<ReplicationStatus>;
  unfence(op: OperationScope): Promise<ReplicationStatus>;
  /** Where replication stands now (also what the probe reports). */
  status(op: OperationScope): Promise<ReplicationStatus>;
  /** Resolves once this replica has applied `position`; DEADLINE_EXCEEDED after `timeoutMs`. */
  waitFor(position: string, timeoutMs: number, op: OperationScope): Promise<ReplicationStatus>;
  /** A former primary follows the new one; what it has beyond `promotedAt` is rewound or re-cloned, never kept. */
  rejoin(req: RejoinRequest, op: OperationScope): Promise<ReplicationStatus>;
  /** Made again from `req` (a backup of its source, then following it): everything this instance had is replaced. */
  rebuild(req: PrepareRequest, op: OperationScope): Promise<ReplicationStatus>;
  /** False while this instance is a primary the controller fails over when its server dies (the agent must not restart it). */
  restartOnCrash(): boolean;
  /** A writable primary of a replica set, by what the manager remembers (the agent's write lease applies). */
  holdsWriteLease(): boolean;
}

/** The agent side of one datastore, bound to one instance. */
export interface AgentManager {
  /**
   * Render config, initialise, start, secure, then create the requested
   * databases and users. With `req.restore` (capability "backup") the data
   * directory is filled from that backup chain instead of being initialised
   * empty: the chain is fetched and verified before anything is written, and a
   * failed restore is a failed prepare (no marker, nothing served).
   */
  prepare(req: PrepareRequest, op: OperationScope): Promise<void>;
  start(op: OperationScope): Promise<void>;
  stop(op: OperationScope): Promise<void>;
  restart(op: OperationScope): Promise<void>;
  /** Stop for good before the instance is deleted. */
  destroy(op: OperationScope): Promise<void>;
  /** Cheap, side-effect-free status check, run every few seconds. */
  probe(): Promise<Probe>;
  /** True once prepare has completed (survives agent restarts). */
  isPrepared(): Promise<boolean>;
  readonly users?: UserOps;
  readonly databases?: DatabaseOps;
  readonly root?: RootOps;
  readonly cluster?: ClusterOps;
  /** Backups (capability "backup"; "backup_incremental" when it can also make incremental ones). */
  readonly backup?: BackupOps;
  /** Replication (capability "replication"). */
  readonly replication?: ReplicationOps;
  /** Configuration groups (capability "configuration"). */
  readonly configuration?: ConfigurationOps;
  /** Datastore logs (capability "logs"; guest-logs.ts builds them from the manager's LogSpecs). */
  readonly logs?: LogOps;
  /**
   * Memory resize (capability "resize"): the memory-derived settings rendered
   * for `memoryMb` and kept for every later render, the server restarted once.
   * Refused (FAILED_PRECONDITION) when the configuration group does not fit
   * the new size; a restart that fails takes the old size back.
   */
  resize?(memoryMb: number, op: OperationScope): Promise<void>;
  /** The filesystem under the data directory grown online to its (already bigger) device (sdk/volume.ts). */
  growVolume?(op: OperationScope): Promise<void>;
  /** Release connections; the datastore keeps running. */
  close(): Promise<void>;
}

/**
 * Input rules of a datastore, at the level of what a command carries. Both
 * sides check through the operations table (`checkCommand`): the controller
 * before it records anything, the agent before it touches anything; manager
 * methods receive checked input. Each method throws StewardError
 * INVALID_ARGUMENT naming `field` (e.g. `users[2].access[0].database`).
 * Build one with `validatorOf` (sdk/validator.ts).
 */
export interface Validator {
  /** A whole prepare request: its databases and users, their access, a restore alone, cluster membership. */
  prepare(req: PrepareRequest): void;
  /** Databases to create: each valid, none twice. */
  databases(dbs: readonly Database[], field: string): void;
  /** Databases a grant or revoke names: each valid, none twice. */
  databaseNames(names: readonly string[], field: string): void;
  databaseName(name: string, field: string): void;
  /** Users to create: each (with its access list) valid, none twice. */
  users(users: readonly User[], field: string): void;
  userRef(ref: UserRef, field: string): void;
  password(password: string, field: string): void;
  /** A list request's page (field `page`): limit in range, a marker this datastore could have handed out. */
  page(page: Page | undefined): void;
  /** Cluster member commands; present when the datastore declares "cluster". */
  readonly cluster?: ClusterValidator;
  /** The parameters configuration groups may set; present when the datastore declares "configuration". */
  readonly parameters?: ParameterCatalog;
}

export interface ClusterValidator {
  seeds(seeds: readonly string[], field: string): void;
  adminCredentials(user: string, password: string, field: string): void;
}

export interface ManagerIdentity {
  /** Registry name, e.g. "mysql". */
  readonly name: string;
  readonly displayName: string;
  readonly capabilities: readonly Capability[];
  readonly validator: Validator;
  /** Default client port of the datastore. */
  readonly defaultPort: number;
}

export interface AgentManagerModule extends ManagerIdentity {
  create(ctx: ManagerContext): AgentManager;
}

export interface OrchestrationModule extends ManagerIdentity {
  /** What "root" means for this datastore, for API and CLI help. */
  readonly rootDescription: string;
  /** Clustering (capability "cluster"): the strategy the controller runs (the seed page's cluster_support + strategy). */
  readonly clusterStrategy?: ClusterStrategy;
  /** Replication (capability "replication"): how the controller reads this datastore's positions. */
  readonly replication?: ReplicationStrategy;
}
