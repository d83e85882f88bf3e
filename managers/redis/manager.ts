// The agent side of Redis for one instance: what its probe asks the server
// here, the shared lifecycle in ServerManager, users, root and backups in
// their own files. Stopping is SIGTERM through service control: Redis fsyncs
// the AOF and saves a snapshot before it exits. A replica also copies its
// source's users every few seconds (replication-users.ts: Redis does not
// replicate them), so that whichever member is promoted knows the applications.
import type { LogOps } from '../sdk/guest-logs.js';
import { checkParameters, type AppliedConfiguration, type ConfigurationOps } from '../sdk/configuration.js';
import type { AgentManager, ManagerContext, OperationScope, Probe, ReplicationOps, RootOps, UserOps } from '../sdk/contract.js';
import { ReplicationStateFile } from '../sdk/replication-state.js';
import type { BackupOps } from '../sdk/backup/types.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { PROBE_TIMEOUT_MS, ServerManager } from '../sdk/server-manager.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { failedPrecondition } from '../sdk/errors.js';
import { redisBackupOps } from './backup.js';
import { inMb, redisParameters, serverValue } from './parameters.js';
import { info, pingError, withSession, type Session, type SessionOptions, type SessionRunner } from './connection.js';
import { ADMIN_SECRET, findRedisServer, redisPaths, serviceSpec, type RedisPaths } from './paths.js';
import { prepare } from './prepare.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { copySourceUsers, redisReplicationOps } from './replication.js';
import { readStatus } from './replication-status.js';
import { rewriteConfig, saveMemory, savedSettings } from './replication-config.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';
import { deadline } from '../sdk/signals.js';

/** How often a replica copies its source's users, and how long one copy may take. */
const USER_COPY_EVERY_MS = 10_000;
const USER_COPY_TIMEOUT_MS = 8_000;

/** Refuses `databases` below a numbered database that holds keys (INFO keyspace lists only those). */
async function checkDatabasesKeepKeys(s: Session, databases: number): Promise<void> {
  const used = Object.keys(await info(s, 'keyspace'))
    .map((db) => /^db(\d+)$/.exec(db)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const highest = Math.max(-1, ...used);
  if (highest >= databases) {
    throw failedPrecondition(`databases cannot be ${databases}: database ${highest} holds keys (move or delete them first)`);
  }
}

export class RedisManager extends ServerManager implements AgentManager {
  readonly users: UserOps;
  readonly root: RootOps;
  readonly backup: BackupOps;
  readonly replication: ReplicationOps;
  readonly configuration: ConfigurationOps;
  /** The server's own log, always on (the slow log is in memory: SLOWLOG, not a file). */
  readonly logs: LogOps;
  private readonly paths: RedisPaths;
  private readonly replicationState: ReplicationStateFile;
  private readonly session: SessionRunner;
  private readonly userCopy: NodeJS.Timeout;
  private copying = false;
  private lastCopyError = '';

  constructor(ctx: ManagerContext) {
    const paths = redisPaths(ctx);
    super(ctx, { name: 'Redis', preparedMarker: paths.preparedMarker, parameters: redisParameters });
    this.paths = paths;
    this.logs = this.guestLogs([
      { name: 'redis', description: "The server's log: start-up, persistence, replication, warnings", file: async () => paths.logFile },
    ]);
    const session: SessionRunner = (fn, signal) => this.adminSession(fn, signal);
    this.session = session;
    this.users = userOps(session);
    this.root = rootOps(session);
    this.backup = redisBackupOps({ ctx, paths });
    this.replicationState = new ReplicationStateFile(paths.replicationFile);
    this.replication = redisReplicationOps({ ctx, paths, state: this.replicationState, session, server: this });
    this.configuration = { apply: (values, op) => this.applyGroup(values, op) };
    // Does not keep the agent alive; close() stops it.
    this.userCopy = setInterval(() => void this.copyUsers(), USER_COPY_EVERY_MS);
    this.userCopy.unref();
  }

  /** A replica's periodic copy of its source's users; a failure is logged once until it changes. */
  private async copyUsers(): Promise<void> {
    if (this.copying || this.replicationState.get().role !== 'replica' || !(await this.isPrepared())) return;
    this.copying = true;
    try {
      const changed = await copySourceUsers({ session: this.session, state: this.replicationState, ctx: this.ctx }, deadline(USER_COPY_TIMEOUT_MS));
      if (changed) this.ctx.log.info({ changed }, 'copied users from the replication source');
      this.lastCopyError = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastCopyError) this.ctx.log.warn({ err: message }, 'could not copy the users of the replication source; retrying');
      this.lastCopyError = message;
    } finally {
      this.copying = false;
    }
  }

  override async close(): Promise<void> {
    clearInterval(this.userCopy);
    await super.close();
  }

  async serviceSpec(): Promise<ServiceSpec> {
    return serviceSpec(await findRedisServer(), this.paths);
  }

  private async adminOptions(): Promise<SessionOptions> {
    return { socket: this.paths.socket, user: ADMIN_USER, password: await this.adminPassword(ADMIN_SECRET) };
  }

  private async adminSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.requirePrepared();
    return withSession(await this.adminOptions(), fn, signal);
  }

  /**
   * A group applied (values checked by the operations table). A smaller
   * `databases` is refused while a database it would drop holds keys: the
   * restarted server would not start from a snapshot naming it, and replaying
   * an AOF its SELECT fails, so the writes after it land in another database
   * (both seen with Redis 7.0). A client may still write there before the
   * restart: this catches the mistake, it cannot lock the keyspace.
   */
  private async applyGroup(values: Record<string, string>, op: OperationScope): Promise<AppliedConfiguration> {
    const group = checkParameters(redisParameters.rules, values, 'values');
    await this.requirePrepared();
    const databases = Number(group.databases ?? redisParameters.defaults(await this.memoryMb()).databases);
    await this.session((s) => checkDatabasesKeepKeys(s, databases), op.signal);
    return this.applyConfiguration(group, op);
  }

  /** The size redis.conf is rendered for: prepare's, or the last resize's (kept with the server settings). */
  protected override async memoryMb(): Promise<number> {
    // Before prepare nothing is rendered or kept yet.
    if (!(await this.isPrepared())) return this.ctx.memoryMb;
    return (await savedSettings(this.paths)).memoryMb;
  }

  protected override async rememberMemory(memoryMb: number): Promise<void> {
    await saveMemory(this.paths, memoryMb);
  }

  /**
   * The data must fit a smaller maxmemory, unless an allkeys policy evicts to
   * make room: the restarted server loads all of it whatever its maxmemory,
   * then refuses every write (noeviction; volatile-* once no key with a TTL is
   * left). Refused before anything changes rather than a resize that quietly
   * leaves a read-only database. The rest is the shared resize (one restart).
   */
  override async resize(memoryMb: number, op: OperationScope): Promise<void> {
    await this.requirePrepared();
    const group = await this.configurationState.values();
    const now = { ...redisParameters.defaults(await this.memoryMb()), ...group };
    const next = { ...redisParameters.defaults(memoryMb), ...group };
    const limit = BigInt(next.maxmemory!);
    if (limit < BigInt(now.maxmemory!) && !next['maxmemory-policy']!.startsWith('allkeys-')) {
      const used = await this.usedMemory(op.signal);
      if (used !== undefined && used > limit) {
        throw failedPrecondition(
          `the data takes ${inMb(used)} (used_memory), more than maxmemory at ${memoryMb} MB (${inMb(limit)}): with maxmemory-policy ` +
            `${next['maxmemory-policy']} the restarted server would refuse writes; delete data or choose a larger size`,
        );
      }
    }
    await super.resize(memoryMb, op);
  }

  /** What the server's memory holds, or undefined when it does not answer (the resize's restart starts it; its size is unknown). */
  private async usedMemory(signal: AbortSignal): Promise<bigint | undefined> {
    try {
      return BigInt((await this.session((s) => info(s, 'memory'), signal)).used_memory ?? '0');
    } catch (err) {
      if (signal.aborted) throw err;
      this.ctx.log.warn({ err: (err as Error).message }, 'resize: the server does not answer; its data size is not checked');
      return undefined;
    }
  }

  /** redis.conf again, from the saved settings (the memory of the last resize), the replication state and the group (replication-config.ts). */
  protected override async renderConfiguration(): Promise<void> {
    await rewriteConfig(this.ctx, this.paths, this.replicationState.get());
  }

  /**
   * One CONFIG SET for every dynamic parameter: Redis applies them all or none.
   * Values are the checked, canonical ones (each a single protocol argument),
   * and a default is the one redis.conf was rendered with (the memory prepare
   * or the last resize saved, which may differ from the agent's). Never CONFIG REWRITE: redis.conf
   * is rendered by the agent, in a directory the server cannot write.
   */
  protected override async applyLive(values: Record<string, string>, op: OperationScope): Promise<void> {
    const group = await this.configurationState.values();
    const defaults = redisParameters.defaults(await this.memoryMb());
    const pairs = Object.keys(values).flatMap((name) => {
      const value = group[name] ?? defaults[name];
      if (value === undefined) throw failedPrecondition(`no value for the Redis parameter ${name}`);
      return [name, serverValue(name, value)];
    });
    if (pairs.length) await this.session((s) => s.call('CONFIG', 'SET', ...pairs), op.signal);
  }

  /** Redis has no databases to count. */
  protected override prepareSummary(req: PrepareRequest): Record<string, unknown> {
    return { users: req.users?.length ?? 0, restore: req.restore?.chain?.[0]?.artifact?.backupId };
  }

  protected async prepareServer(req: PrepareRequest, op: OperationScope): Promise<void> {
    await prepare({ ctx: this.ctx, paths: this.paths, server: await findRedisServer(), replication: this.replicationState }, req, op);
  }

  protected async waitUntilReady(spec: ServiceSpec, signal: AbortSignal): Promise<void> {
    const ready = { service: this.ctx.service, spec, logs: [this.paths.logFile, this.paths.consoleLog] };
    await waitUntilReady(await this.adminOptions(), ready, signal);
  }

  protected async probeServer(facts: Record<string, string>): Promise<Probe> {
    const { refused, server, replication, persistence, status } = await withSession(
      { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
      async (s) => {
        // INFO is answered even while loading or refusing writes: the facts say why.
        const server = await info(s, 'server');
        const replication = await info(s, 'replication');
        const persistence = await info(s, 'persistence');
        // In a replica set the controller reads where this member stands from every heartbeat.
        const status = this.replicationState.replicated ? await readStatus(s, this.replicationState.get(), replication) : undefined;
        // PING last: a snapshot that failed before the INFO above makes it refused too, so
        // one probe never reports the failure without the refusal it causes.
        return { server, replication, persistence, status, refused: await pingError(s) };
      },
      deadline(PROBE_TIMEOUT_MS),
    );
    const version = server.redis_version ?? '';
    facts.version = version;
    if (server.uptime_in_seconds) facts.uptime_seconds = server.uptime_in_seconds;
    facts.role = replication.role ?? '';
    if (replication.master_link_status) facts.master_link_status = replication.master_link_status;
    facts.aof_enabled = persistence.aof_enabled ?? '';
    facts.rdb_last_bgsave_status = persistence.rdb_last_bgsave_status ?? '';
    facts.aof_last_write_status = persistence.aof_last_write_status ?? '';
    facts.rdb_changes_since_last_save = persistence.rdb_changes_since_last_save ?? '';
    if (persistence.loading === '1') facts.loading = '1';
    // With stop-writes-on-bgsave-error a failed snapshot makes the server refuse writes,
    // and a failed AOF write means acknowledged writes may not be on disk: serving, not healthy.
    const failing = [
      refused && `PING refused: ${refused}`,
      persistence.rdb_last_bgsave_status !== 'ok' && 'the last RDB snapshot failed',
      persistence.aof_enabled === '1' && persistence.aof_last_write_status !== 'ok' && 'the last AOF write failed',
    ].filter((m): m is string => !!m);
    if (failing.length) {
      facts.error = failing.join('; ');
      return { status: DatastoreStatus.RUNNING, version, facts, replication: status };
    }
    return { status: DatastoreStatus.HEALTHY, version, facts, replication: status };
  }
}
