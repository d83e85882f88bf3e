// The agent side of Redis for one instance: what its probe asks the server
// here, the shared lifecycle in ServerManager, users, root and backups in
// their own files. Stopping is SIGTERM through service control: Redis fsyncs
// the AOF and saves a snapshot before it exits.
import type { AgentManager, ManagerContext, OperationScope, Probe, RootOps, UserOps } from '../sdk/contract.js';
import type { BackupOps } from '../sdk/backup/types.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { PROBE_TIMEOUT_MS, ServerManager } from '../sdk/server-manager.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { redisBackupOps } from './backup.js';
import { info, pingError, withSession, type Session, type SessionOptions, type SessionRunner } from './connection.js';
import { ADMIN_SECRET, findRedisServer, redisPaths, serviceSpec, type RedisPaths } from './paths.js';
import { prepare } from './prepare.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';
import { deadline } from '../sdk/signals.js';

export class RedisManager extends ServerManager implements AgentManager {
  readonly users: UserOps;
  readonly root: RootOps;
  readonly backup: BackupOps;
  private readonly paths: RedisPaths;

  constructor(ctx: ManagerContext) {
    const paths = redisPaths(ctx);
    super(ctx, { name: 'Redis', preparedMarker: paths.preparedMarker });
    this.paths = paths;
    const session: SessionRunner = (fn, signal) => this.adminSession(fn, signal);
    this.users = userOps(session);
    this.root = rootOps(session);
    this.backup = redisBackupOps({ ctx, paths });
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

  /** Redis has no databases to count. */
  protected override prepareSummary(req: PrepareRequest): Record<string, unknown> {
    return { users: req.users?.length ?? 0, restore: req.restore?.chain?.[0]?.artifact?.backupId };
  }

  protected async prepareServer(req: PrepareRequest, op: OperationScope): Promise<void> {
    await prepare({ ctx: this.ctx, paths: this.paths, server: await findRedisServer() }, req, op);
  }

  protected async waitUntilReady(spec: ServiceSpec, signal: AbortSignal): Promise<void> {
    const ready = { service: this.ctx.service, spec, logs: [this.paths.logFile, this.paths.consoleLog] };
    await waitUntilReady(await this.adminOptions(), ready, signal);
  }

  protected async probeServer(facts: Record<string, string>): Promise<Probe> {
    const { refused, server, replication, persistence } = await withSession(
      { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
      async (s) => {
        // INFO is answered even while loading or refusing writes: the facts say why.
        const server = await info(s, 'server');
        const replication = await info(s, 'replication');
        const persistence = await info(s, 'persistence');
        // PING last: a snapshot that failed before the INFO above makes it refused too, so
        // one probe never reports the failure without the refusal it causes.
        return { server, replication, persistence, refused: await pingError(s) };
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
      return { status: DatastoreStatus.RUNNING, version, facts };
    }
    return { status: DatastoreStatus.HEALTHY, version, facts };
  }
}
