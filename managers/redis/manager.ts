// The agent side of Redis for one instance: lifecycle and probe here, users and
// root in their own files. The server is always started and stopped through
// ctx.service, never directly.
import { access } from 'node:fs/promises';
import type { AgentManager, ManagerContext, OperationScope, Probe, RootOps, UserOps } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { info, pingError, withSession, type Session, type SessionOptions, type SessionRunner } from './connection.js';
import { ADMIN_SECRET, findRedisServer, redisPaths, serviceSpec, type RedisPaths } from './paths.js';
import { alreadyPrepared, prepare } from './prepare.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';

const PROBE_TIMEOUT_MS = 5_000;

export class RedisManager implements AgentManager {
  readonly users: UserOps;
  readonly root: RootOps;
  private readonly paths: RedisPaths;

  constructor(private readonly ctx: ManagerContext) {
    this.paths = redisPaths(ctx);
    const session: SessionRunner = (fn, signal) => this.adminSession(fn, signal);
    this.users = userOps(session);
    this.root = rootOps(session);
  }

  /** The spec the service backend knows this server by (also used by tests to find it). */
  async serviceSpec(): Promise<ServiceSpec> {
    return serviceSpec(await findRedisServer(), this.paths);
  }

  async isPrepared(): Promise<boolean> {
    return access(this.paths.preparedMarker).then(
      () => true,
      () => false,
    );
  }

  private async requirePrepared(): Promise<void> {
    if (!(await this.isPrepared())) throw failedPrecondition('Redis has not been prepared on this instance');
  }

  private async adminOptions(): Promise<SessionOptions> {
    const password = await this.ctx.secrets.get(ADMIN_SECRET);
    if (!password) throw failedPrecondition('the Redis admin password is missing from the secret store');
    return { socket: this.paths.socket, user: ADMIN_USER, password };
  }

  private async adminSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.requirePrepared();
    return withSession(await this.adminOptions(), fn, signal);
  }

  async prepare(req: PrepareRequest, op: OperationScope): Promise<void> {
    if (await this.isPrepared()) throw alreadyPrepared();
    this.ctx.log.info({ users: req.users?.length ?? 0 }, 'preparing Redis');
    await prepare({ ctx: this.ctx, paths: this.paths, server: await findRedisServer() }, req, op);
    this.ctx.log.info('Redis prepared');
  }

  async start(op: OperationScope): Promise<void> {
    await this.requirePrepared();
    const spec = await this.serviceSpec();
    op.progress(10, 'starting server');
    await this.ctx.service.start(spec, op.signal);
    await this.waitReady(spec, op);
  }

  /** SIGTERM through service control: Redis fsyncs the AOF and saves a snapshot before it exits. */
  async stop(op: OperationScope): Promise<void> {
    op.progress(10, 'stopping server');
    await this.ctx.service.stop(await this.serviceSpec(), op.signal);
    op.progress(100, 'stopped');
  }

  async restart(op: OperationScope): Promise<void> {
    await this.requirePrepared();
    const spec = await this.serviceSpec();
    op.progress(10, 'restarting server');
    await this.ctx.service.restart(spec, op.signal);
    await this.waitReady(spec, op);
  }

  /** The instance is about to be deleted: stop for good; the data goes with the machine. */
  async destroy(op: OperationScope): Promise<void> {
    await this.stop(op);
  }

  private async waitReady(spec: ServiceSpec, op: OperationScope): Promise<void> {
    op.progress(50, 'waiting for the server to accept connections');
    const ready = { service: this.ctx.service, spec, logs: [this.paths.logFile, this.paths.consoleLog] };
    await waitUntilReady(await this.adminOptions(), ready, op.signal);
    op.progress(100, 'running');
  }

  async probe(): Promise<Probe> {
    if (!(await this.isPrepared())) return { status: DatastoreStatus.NEW, version: '', facts: {} };
    const spec = await this.serviceSpec();
    const state = await this.ctx.service.state(spec);
    const facts: Record<string, string> = {};
    const pid = await this.ctx.service.pid(spec).catch(() => undefined);
    if (pid) facts.pid = String(pid);
    if (state === 'crashed') return { status: DatastoreStatus.CRASHED, version: '', facts };
    if (state === 'stopped') return { status: DatastoreStatus.SHUTDOWN, version: '', facts };
    try {
      const { refused, server, replication, persistence } = await withSession(
        { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
        async (s) => ({
          refused: await pingError(s),
          // INFO is answered even while loading or refusing writes: the facts say why.
          server: await info(s, 'server'),
          replication: await info(s, 'replication'),
          persistence: await info(s, 'persistence'),
        }),
        AbortSignal.timeout(PROBE_TIMEOUT_MS),
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
    } catch (err) {
      // The process is there but does not answer: starting, loading its data, or wedged.
      facts.error = (err as Error).message;
      return { status: DatastoreStatus.RUNNING, version: '', facts };
    }
  }

  async close(): Promise<void> {
    // Sessions are opened per operation and closed by it: nothing is pooled.
  }
}
