// THE operations table: every operation an agent can run, once. For each
// payload case of `Command`: the kind it is stored and reported under, whether
// it mutates (run one at a time, journaled so it runs once) or reads (runs
// alongside, safe to repeat), the capabilities it needs, its default deadline,
// the notification it raises, the instance task it sets, how its input is
// checked and which manager method does the work. The controller and the agent
// both read it; `satisfies` below makes a missing or misspelt entry a compile
// error. Adding an operation: a proto payload field, a row here, the manager
// method.
import type { AccessRequest } from '../../../proto/gen/steward/v1/agent.js';
import type { AttachReplicaRequest, ReplicationCredentials, ReplicationSourceRequest } from '../../../proto/gen/steward/v1/replication.js';
import type { InstanceTask } from '../../../proto/gen/steward/v1/api.js';
import { BackupType } from '../../../proto/gen/steward/v1/backups.js';
import type { OperationResult } from '../../../proto/gen/steward/v1/common.js';
import type { AgentManager, Capability, OperationScope, Validator } from '../contract.js';
import { checkParameters } from '../configuration.js';
import { checkLogCommand, checkPublishCommand } from '../guest-logs.js';
import { failedPrecondition, invalidArgument } from '../errors.js';
import type { EventType } from '../events.js';
import { registerSecret } from '../redact.js';
import { answer, DONE, type PayloadCase, type PayloadOf, type SnakeCase } from './payload.js';

export type InstanceTaskName = Exclude<keyof typeof InstanceTask, 'UNSPECIFIED' | 'UNRECOGNIZED'>;

export interface OperationSpec<C extends PayloadCase = PayloadCase> {
  readonly kind: SnakeCase<C>;
  /** Mutations run one at a time per datastore and are journaled before they start; reads run alongside. */
  readonly mutating: boolean;
  /** Capabilities the datastore must declare; [] = every manager can do it. */
  needs(p: PayloadOf<C>): readonly Capability[];
  /** The deadline the controller gives it unless the caller names one. */
  readonly deadlineMs: number;
  /**
   * The notification it raises, or null for none. 'operation': the operation's
   * own acceptance and outcome raise `.start` and `.end`/`.error`; 'resource':
   * the service that owns the resource raises them, because the outcome is the
   * resource's (a backup the controller refuses to believe ends `.error`).
   */
  readonly event: { readonly type: EventType; readonly raisedBy: 'operation' | 'resource' } | null;
  /** The instance task while it runs, and the one it leaves when it fails; null = the task is not touched. */
  readonly task: { readonly running: InstanceTaskName; readonly failed: InstanceTaskName } | null;
  /** False for what instance deletion runs itself: a lost agent must not fail the deletion's own step. */
  readonly failsWithLostAgent: boolean;
  /**
   * Replication commands carry the replica set's term: the agent refuses one
   * older than the highest it has accepted (FAILED_PRECONDITION) and records a
   * newer one before it runs the command.
   */
  readonly term?: (p: PayloadOf<C>) => number;
  /** Makes this instance a writable primary at the controller's word: its write lease starts when the command arrives. */
  readonly grantsLease?: true;
  /** Changes what a replica receives from its primary: refused on a replica (its source has it, or it would diverge). */
  readonly writesData?: true;
  /** Throws INVALID_ARGUMENT naming the field; called by both sides before anything is recorded or touched. */
  check(p: PayloadOf<C>, v: Validator): void;
  run(m: AgentManager, p: PayloadOf<C>, op: OperationScope): Promise<OperationResult>;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
/** Short reads answer a waiting caller. */
const READ = 30 * SECOND;
const MUTATION = 2 * MINUTE;

const none = (): readonly Capability[] => [];
const only =
  (...caps: Capability[]) =>
  (): readonly Capability[] =>
    caps;
const noCheck = (): void => undefined;
/** An operation that answers nothing but its success. */
const after = (work: Promise<void>): Promise<OperationResult> => work.then(() => DONE);
const quiet = { event: null, task: null, failsWithLostAgent: true } as const;

/** A manager part the capability promised (the capability check ran first; this guards the manager's honesty). */
function part<T>(value: T | undefined, capability: Capability): T {
  if (!value) throw failedPrecondition(`this datastore declares "${capability}" but its manager does not implement it`);
  return value;
}

function nonEmpty(list: readonly unknown[], field: string, what: string): void {
  if (list.length === 0) throw invalidArgument(field, `name at least one ${what}`);
}

function required<T>(value: T | undefined, field: string): T {
  if (!value) throw invalidArgument(field, 'is required');
  return value;
}

// Replication input is the controller's own (addresses, generated accounts), checked all the same: an agent trusts no field.
const REPL_USER = /^[a-z_][a-z0-9_]{0,31}$/;
const REPLICA_NAME = /^[a-z0-9_]{1,63}$/;
const HOST = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/;

function checkCredentials(c: ReplicationCredentials | undefined, field: string): void {
  const creds = required(c, `${field}credentials`);
  if (!REPL_USER.test(creds.user)) throw invalidArgument(`${field}credentials.user`, 'must be 1-32 lower-case letters, digits or "_"');
  if (!/^[\x21-\x7e]{16,128}$/.test(creds.password))
    throw invalidArgument(`${field}credentials.password`, 'must be 16-128 printable characters without spaces');
}

function checkSource(p: ReplicationSourceRequest, field: string): void {
  checkCredentials(p.credentials, field);
  p.replicas.forEach((r, i) => {
    if (!REPLICA_NAME.test(r.name)) throw invalidArgument(`${field}replicas[${i}].name`, 'must be 1-63 lower-case letters, digits or "_"');
    if (r.host && !HOST.test(r.host)) throw invalidArgument(`${field}replicas[${i}].host`, 'must be an address or host name');
  });
}

function checkAttach(p: AttachReplicaRequest, field: string): void {
  if (!HOST.test(p.sourceHost)) throw invalidArgument(`${field}source_host`, 'must be an address or host name');
  if (!Number.isInteger(p.sourcePort) || p.sourcePort < 1 || p.sourcePort > 65535) throw invalidArgument(`${field}source_port`, 'must be 1-65535');
  if (!REPLICA_NAME.test(p.name)) throw invalidArgument(`${field}name`, 'must be 1-63 lower-case letters, digits or "_"');
  checkCredentials(p.credentials, field);
}

/** Memory an instance may have, in MB (the same bounds as creation). */
export function checkMemory(memoryMb: number, field: string): void {
  if (!Number.isInteger(memoryMb) || memoryMb < 128 || memoryMb > 1_048_576) throw invalidArgument(field, 'must be between 128 and 1048576');
}

function checkPosition(position: string, field: string): void {
  if (!/^[\x20-\x7e]{0,4096}$/.test(position)) throw invalidArgument(field, 'must be printable ASCII, at most 4096 characters');
}

function checkAccessRequest(p: AccessRequest, v: Validator): void {
  v.userRef(required(p.user, 'user'), 'user');
  nonEmpty(p.databases, 'databases', 'database');
  v.databaseNames(p.databases, 'databases');
}

export const OPERATIONS = {
  // ---- lifecycle -----------------------------------------------------------
  prepare: {
    kind: 'prepare',
    mutating: true,
    needs: (p) => [
      ...(p.databases.length ? (['databases'] as const) : []),
      ...(p.users.length ? (['users'] as const) : []),
      ...(p.restore ? (['backup'] as const) : []),
      ...(p.cluster ? (['cluster'] as const) : []),
      ...(p.replicaOf ? (['replication'] as const) : []),
      ...(Object.keys(p.configuration).length ? (['configuration'] as const) : []),
    ],
    deadlineMs: 15 * MINUTE,
    event: { type: 'instance.create', raisedBy: 'operation' },
    task: { running: 'BUILDING', failed: 'BUILDING_ERROR' },
    failsWithLostAgent: true,
    check: (p, v) => {
      v.prepare(p);
      if (p.replicaOf) checkAttach(p.replicaOf, 'replica_of');
      if (Object.keys(p.configuration).length) checkParameters(part(v.parameters, 'configuration').rules, p.configuration, 'configuration');
    },
    term: (p) => p.replicaOf?.term ?? 0,
    run: async (m, p, op) => {
      registerSecret(p.cluster?.adminPassword);
      registerSecret(p.restore?.storage?.secretAccessKey);
      await m.prepare(p, op);
      return answer('prepared', { datastoreVersion: (await m.probe()).version });
    },
  },
  restart: {
    kind: 'restart',
    mutating: true,
    needs: none,
    deadlineMs: 5 * MINUTE,
    event: { type: 'instance.reboot', raisedBy: 'operation' },
    task: { running: 'REBOOTING', failed: 'REBOOTING_ERROR' },
    failsWithLostAgent: true,
    check: noCheck,
    run: (m, _p, op) => after(m.restart(op)),
  },
  stop: { kind: 'stop', mutating: true, needs: none, deadlineMs: MUTATION, ...quiet, check: noCheck, run: (m, _p, op) => after(m.stop(op)) },
  start: { kind: 'start', mutating: true, needs: none, deadlineMs: 5 * MINUTE, ...quiet, check: noCheck, run: (m, _p, op) => after(m.start(op)) },
  // Instance deletion raises instance.delete from its own workflow.
  destroy: {
    kind: 'destroy',
    mutating: true,
    needs: none,
    deadlineMs: MUTATION,
    event: null,
    task: null,
    failsWithLostAgent: false,
    check: noCheck,
    run: (m, _p, op) => after(m.destroy(op)),
  },
  noop: { kind: 'noop', mutating: false, needs: none, deadlineMs: READ, ...quiet, check: noCheck, run: async (_m, p) => answer('noop', { echo: p.echo }) },

  // ---- databases -----------------------------------------------------------
  createDatabases: {
    kind: 'create_databases',
    writesData: true,
    mutating: true,
    needs: only('databases'),
    deadlineMs: MUTATION,
    event: { type: 'database.create', raisedBy: 'operation' },
    task: null,
    failsWithLostAgent: true,
    check: (p, v) => {
      nonEmpty(p.databases, 'databases', 'database');
      v.databases(p.databases, 'databases');
    },
    run: (m, p, op) => after(part(m.databases, 'databases').create(p.databases, op)),
  },
  listDatabases: {
    kind: 'list_databases',
    mutating: false,
    needs: only('databases'),
    deadlineMs: READ,
    ...quiet,
    check: (p, v) => v.page(p.page),
    run: async (m, p, op) => answer('databases', await part(m.databases, 'databases').list(p.page ?? { limit: 0, marker: '' }, op)),
  },
  deleteDatabase: {
    kind: 'delete_database',
    writesData: true,
    mutating: true,
    needs: only('databases'),
    deadlineMs: MUTATION,
    event: { type: 'database.delete', raisedBy: 'operation' },
    task: null,
    failsWithLostAgent: true,
    check: (p, v) => v.databaseName(p.name, 'name'),
    run: (m, p, op) => after(part(m.databases, 'databases').delete(p.name, op, { force: p.force })),
  },

  // ---- users ---------------------------------------------------------------
  createUsers: {
    kind: 'create_users',
    writesData: true,
    mutating: true,
    needs: only('users'),
    deadlineMs: MUTATION,
    event: { type: 'user.create', raisedBy: 'operation' },
    task: null,
    failsWithLostAgent: true,
    check: (p, v) => {
      nonEmpty(p.users, 'users', 'user');
      v.users(p.users, 'users');
    },
    run: (m, p, op) => after(part(m.users, 'users').create(p.users, op)),
  },
  listUsers: {
    kind: 'list_users',
    mutating: false,
    needs: only('users'),
    deadlineMs: READ,
    ...quiet,
    check: (p, v) => v.page(p.page),
    run: async (m, p, op) => answer('users', await part(m.users, 'users').list(p.page ?? { limit: 0, marker: '' }, op)),
  },
  getUser: {
    kind: 'get_user',
    mutating: false,
    needs: only('users'),
    deadlineMs: READ,
    ...quiet,
    check: (p, v) => v.userRef(p, 'user'),
    run: async (m, p, op) => answer('user', await part(m.users, 'users').get(p, op)),
  },
  deleteUser: {
    kind: 'delete_user',
    writesData: true,
    mutating: true,
    needs: only('users'),
    deadlineMs: MUTATION,
    event: { type: 'user.delete', raisedBy: 'operation' },
    task: null,
    failsWithLostAgent: true,
    check: (p, v) => v.userRef(p, 'user'),
    run: (m, p, op) => after(part(m.users, 'users').delete(p, op)),
  },
  changePassword: {
    kind: 'change_password',
    writesData: true,
    mutating: true,
    needs: only('users'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p, v) => {
      v.userRef(required(p.user, 'user'), 'user');
      v.password(p.password, 'password');
    },
    run: (m, p, op) => after(part(m.users, 'users').changePassword(p.user!, p.password, op)),
  },
  grantAccess: {
    kind: 'grant_access',
    writesData: true,
    mutating: true,
    needs: only('users'),
    deadlineMs: MUTATION,
    ...quiet,
    check: checkAccessRequest,
    run: (m, p, op) => after(part(m.users, 'users').grant(p.user!, p.databases, op)),
  },
  revokeAccess: {
    kind: 'revoke_access',
    writesData: true,
    mutating: true,
    needs: only('users'),
    deadlineMs: MUTATION,
    ...quiet,
    check: checkAccessRequest,
    run: (m, p, op) => after(part(m.users, 'users').revoke(p.user!, p.databases, op)),
  },
  listAccess: {
    kind: 'list_access',
    mutating: false,
    needs: only('users'),
    deadlineMs: READ,
    ...quiet,
    check: (p, v) => v.userRef(p, 'user'),
    run: async (m, p, op) => answer('access', { access: await part(m.users, 'users').listAccess(p, op) }),
  },

  // ---- root ----------------------------------------------------------------
  enableRoot: {
    kind: 'enable_root',
    writesData: true,
    mutating: true,
    needs: only('root'),
    deadlineMs: MINUTE,
    event: { type: 'root.enable', raisedBy: 'operation' },
    task: null,
    failsWithLostAgent: true,
    check: noCheck,
    run: async (m, _p, op) => answer('root', { enabled: true, ...(await part(m.root, 'root').enable(op)) }),
  },
  disableRoot: {
    kind: 'disable_root',
    writesData: true,
    mutating: true,
    needs: only('root'),
    deadlineMs: MUTATION,
    ...quiet,
    check: noCheck,
    run: (m, _p, op) => after(part(m.root, 'root').disable(op)),
  },
  rootStatus: {
    kind: 'root_status',
    mutating: false,
    needs: only('root'),
    deadlineMs: READ,
    ...quiet,
    check: noCheck,
    run: async (m, _p, op) => answer('root', { ...(await part(m.root, 'root').status(op)), password: '' }),
  },

  // ---- cluster members (each acts on this member only) ---------------------
  memberInfo: {
    kind: 'member_info',
    mutating: false,
    needs: only('cluster'),
    deadlineMs: READ,
    ...quiet,
    check: noCheck,
    run: async (m, _p, op) => answer('member', await part(m.cluster, 'cluster').memberInfo(op)),
  },
  ringView: {
    kind: 'ring_view',
    mutating: false,
    needs: only('cluster'),
    deadlineMs: READ,
    ...quiet,
    check: noCheck,
    run: async (m, _p, op) => answer('ring', await part(m.cluster, 'cluster').ringView(op)),
  },
  setSeeds: {
    kind: 'set_seeds',
    mutating: true,
    needs: only('cluster'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p, v) => part(v.cluster, 'cluster').seeds(p.seeds, 'seeds'),
    run: (m, p, op) => after(part(m.cluster, 'cluster').setSeeds(p.seeds, op)),
  },
  nodeCleanup: {
    kind: 'node_cleanup',
    mutating: true,
    needs: only('cluster'),
    deadlineMs: 60 * MINUTE,
    ...quiet,
    check: noCheck,
    run: (m, _p, op) => after(part(m.cluster, 'cluster').cleanup(op)),
  },
  decommission: {
    kind: 'decommission',
    mutating: true,
    needs: only('cluster'),
    deadlineMs: 60 * MINUTE,
    ...quiet,
    check: noCheck,
    run: (m, _p, op) => after(part(m.cluster, 'cluster').decommission(op)),
  },
  storeAdminCredentials: {
    kind: 'store_admin_credentials',
    mutating: true,
    needs: only('cluster'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p, v) => part(v.cluster, 'cluster').adminCredentials(p.user, p.password, 'admin'),
    run: async (m, p, op) => {
      registerSecret(p.password);
      await part(m.cluster, 'cluster').storeAdminCredentials(p.user, p.password, op);
      return DONE;
    },
  },
  secureCluster: {
    kind: 'secure_cluster',
    mutating: true,
    needs: only('cluster'),
    deadlineMs: 5 * MINUTE,
    ...quiet,
    check: (p) => {
      if (!Number.isInteger(p.members) || p.members < 1 || p.members > 1_000) throw invalidArgument('members', 'must be the number of members, 1 to 1000');
    },
    run: (m, p, op) => after(part(m.cluster, 'cluster').secureCluster(p.members, op)),
  },

  // ---- backups (docs/backups.md) -------------------------------------------
  createBackup: {
    kind: 'create_backup',
    mutating: true,
    // An incremental is refused before anything is written where the datastore cannot make one.
    needs: (p) => (p.type === BackupType.INCREMENTAL ? ['backup', 'backup_incremental'] : ['backup']),
    // Backups stream for as long as the data takes; the deadline only catches an agent gone silent.
    deadlineMs: 12 * 60 * MINUTE,
    event: { type: 'backup.create', raisedBy: 'resource' },
    task: null,
    failsWithLostAgent: true,
    check: noCheck,
    run: async (m, p, op) => {
      registerSecret(p.storage?.secretAccessKey);
      return answer('backup', await part(m.backup, 'backup').create(p, op));
    },
  },

  // ---- replication (docs/replication.md) -----------------------------------
  configureSource: {
    kind: 'configure_source',
    mutating: true,
    needs: only('replication'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p) => checkSource(p, ''),
    term: (p) => p.term,
    // A standalone instance becomes its set's primary here: without a grant its
    // lease would count as long expired and it would fence itself (ending the
    // seed backup's session) unless a heartbeat's grant happened to come first.
    grantsLease: true,
    run: async (m, p, op) => answer('replication', await part(m.replication, 'replication').configureSource(p, op)),
  },
  attachReplica: {
    kind: 'attach_replica',
    mutating: true,
    needs: only('replication'),
    deadlineMs: 10 * MINUTE,
    ...quiet,
    check: (p) => checkAttach(p, ''),
    term: (p) => p.term,
    run: async (m, p, op) => answer('replication', await part(m.replication, 'replication').attach(p, op)),
  },
  promoteReplica: {
    kind: 'promote_replica',
    mutating: true,
    needs: only('replication'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p) => {
      if (p.source) checkSource(p.source, 'source.');
    },
    term: (p) => p.term,
    grantsLease: true,
    run: async (m, p, op) => answer('replication', await part(m.replication, 'replication').promote(p, op)),
  },
  fenceWrites: {
    kind: 'fence_writes',
    mutating: true,
    needs: only('replication'),
    deadlineMs: MINUTE,
    ...quiet,
    check: noCheck,
    term: (p) => p.term,
    run: async (m, _p, op) => answer('replication', await part(m.replication, 'replication').fence(op)),
  },
  unfenceWrites: {
    kind: 'unfence_writes',
    mutating: true,
    needs: only('replication'),
    deadlineMs: MINUTE,
    ...quiet,
    check: noCheck,
    term: (p) => p.term,
    grantsLease: true,
    run: async (m, _p, op) => answer('replication', await part(m.replication, 'replication').unfence(op)),
  },
  replicationStatus: {
    kind: 'replication_status',
    mutating: false,
    needs: only('replication'),
    deadlineMs: READ,
    ...quiet,
    check: noCheck,
    run: async (m, _p, op) => answer('replication', await part(m.replication, 'replication').status(op)),
  },
  // A read: it waits on the datastore, never on the mutation queue (a switchover's catch-up runs next to nothing else).
  waitForPosition: {
    kind: 'wait_for_position',
    mutating: false,
    needs: only('replication'),
    deadlineMs: 5 * MINUTE,
    ...quiet,
    check: (p) => {
      checkPosition(p.position, 'position');
      if (p.timeoutMs < 1 || p.timeoutMs > 3_600_000) throw invalidArgument('timeout_ms', 'must be 1 ms to 1 hour');
    },
    term: (p) => p.term,
    run: async (m, p, op) => answer('replication', await part(m.replication, 'replication').waitFor(p.position, p.timeoutMs, op)),
  },
  rebuildReplica: {
    kind: 'rebuild_replica',
    mutating: true,
    needs: only('replication', 'backup'),
    deadlineMs: 15 * MINUTE,
    event: null,
    task: null,
    failsWithLostAgent: true,
    check: (p, v) => {
      v.prepare(p);
      checkAttach(required(p.replicaOf, 'replica_of'), 'replica_of.');
      required(p.restore, 'restore');
    },
    term: (p) => p.replicaOf?.term ?? 0,
    run: async (m, p, op) => answer('replication', await part(m.replication, 'replication').rebuild(p, op)),
  },
  rejoin: {
    kind: 'rejoin',
    mutating: true,
    needs: only('replication'),
    deadlineMs: 30 * MINUTE,
    ...quiet,
    check: (p) => {
      checkAttach(required(p.attach, 'attach'), 'attach.');
      checkPosition(p.promotedAt, 'promoted_at');
    },
    term: (p) => p.attach?.term ?? 0,
    run: async (m, p, op) => answer('replication', await part(m.replication, 'replication').rejoin(p, op)),
  },

  // ---- configuration groups --------------------------------------------------
  applyConfiguration: {
    kind: 'apply_configuration',
    mutating: true,
    needs: only('configuration'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p, v) => void checkParameters(part(v.parameters, 'configuration').rules, p.values, 'values'),
    run: async (m, p, op) => answer('configuration', await part(m.configuration, 'configuration').apply(p.values, op)),
  },

  resize: {
    kind: 'resize',
    mutating: true,
    needs: only('resize'),
    deadlineMs: 15 * MINUTE,
    event: { type: 'instance.modify_flavor', raisedBy: 'operation' },
    task: { running: 'RESIZING', failed: 'RESIZING_ERROR' },
    failsWithLostAgent: true,
    check: (p) => checkMemory(p.memoryMb, 'memory_mb'),
    run: (m, p, op) => after(part(m.resize && ((mb: number, o: OperationScope) => m.resize!(mb, o)), 'resize')(p.memoryMb, op)),
  },

  growVolume: {
    kind: 'grow_volume',
    mutating: true,
    needs: none,
    deadlineMs: 5 * MINUTE,
    event: { type: 'instance.modify_volume', raisedBy: 'operation' },
    task: { running: 'RESIZING', failed: 'RESIZING_ERROR' },
    failsWithLostAgent: true,
    check: (p) => {
      if (!Number.isInteger(p.volumeSizeMb) || p.volumeSizeMb < 1) throw invalidArgument('volume_size_mb', 'must be a positive number of MB');
    },
    run: (m, _p, op) => after(part(m.growVolume && ((o: OperationScope) => m.growVolume!(o)), 'resize')(op)),
  },

  // ---- datastore logs ----------------------------------------------------------
  listLogs: {
    kind: 'list_logs',
    mutating: false,
    needs: only('logs'),
    deadlineMs: READ,
    ...quiet,
    check: noCheck,
    run: async (m, _p, op) => answer('logs', { logs: await part(m.logs, 'logs').list(op) }),
  },
  enableLog: {
    kind: 'enable_log',
    mutating: true,
    needs: only('logs'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p) => checkLogCommand(p),
    run: async (m, p, op) => answer('logs', { logs: [await part(m.logs, 'logs').enable(p, op)] }),
  },
  disableLog: {
    kind: 'disable_log',
    mutating: true,
    needs: only('logs'),
    deadlineMs: MUTATION,
    ...quiet,
    check: (p) => checkLogCommand(p),
    run: async (m, p, op) => answer('logs', { logs: [await part(m.logs, 'logs').disable(p, op)] }),
  },
  showLog: {
    kind: 'show_log',
    mutating: false,
    needs: only('logs'),
    deadlineMs: READ,
    ...quiet,
    check: (p) => checkLogCommand(p),
    run: async (m, p, op) => answer('logTail', await part(m.logs, 'logs').show(p, op)),
  },
  publishLog: {
    kind: 'publish_log',
    mutating: true,
    needs: only('logs'),
    deadlineMs: 30 * MINUTE,
    ...quiet,
    check: (p) => checkPublishCommand(p),
    run: async (m, p, op) => {
      registerSecret(p.storage?.secretAccessKey);
      return answer('publishedLog', await part(m.logs, 'logs').publish(p, op));
    },
  },
} as const satisfies { readonly [C in PayloadCase]: OperationSpec<C> };
