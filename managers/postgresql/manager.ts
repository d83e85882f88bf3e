// The agent side of PostgreSQL for one instance: lifecycle and probe here,
// users/databases/root in their own files. The server is always started and
// stopped through ctx.service, never directly.
import { access } from 'node:fs/promises';
import type { AgentManager, DatabaseOps, ManagerContext, OperationScope, Probe, RootOps, UserOps } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { select, sessionsWith, withSession, type OpenSessions, type SessionOptions } from './connection.js';
import { databaseOps } from './databases.js';
import type { FileOwner } from './hba.js';
import { ADMIN_SECRET, OS_USER, pgPaths, serviceSpec, type PgPaths } from './paths.js';
import { alreadyPrepared, prepare } from './prepare.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { effective } from './settings.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';

const PROBE_TIMEOUT_MS = 5_000;

export class PostgresqlManager implements AgentManager {
  readonly users: UserOps;
  readonly databases: DatabaseOps;
  readonly root: RootOps;
  readonly paths: PgPaths;

  constructor(private readonly ctx: ManagerContext) {
    this.paths = pgPaths(ctx);
    const open: OpenSessions = (signal) =>
      sessionsWith(async () => {
        await this.requirePrepared();
        return this.adminOptions();
      }, signal);
    this.users = userOps(open);
    this.databases = databaseOps(open);
    this.root = rootOps(open, { hbaFile: this.paths.hbaFile, owner: () => this.configOwner() });
  }

  /** The spec the service backend knows this server by (also used by tests to find it). */
  async serviceSpec(): Promise<ServiceSpec> {
    return serviceSpec((await effective(this.ctx, this.paths)).installation, this.paths);
  }

  async isPrepared(): Promise<boolean> {
    return access(this.paths.preparedMarker).then(
      () => true,
      () => false,
    );
  }

  private async requirePrepared(): Promise<void> {
    if (!(await this.isPrepared())) throw failedPrecondition('PostgreSQL has not been prepared on this instance');
  }

  private async adminOptions(): Promise<SessionOptions> {
    const password = await this.ctx.secrets.get(ADMIN_SECRET);
    if (!password) throw failedPrecondition('the PostgreSQL admin password is missing from the secret store');
    const { port } = await effective(this.ctx, this.paths);
    return { host: this.paths.socketDir, port, user: ADMIN_USER, password };
  }

  /** Config files stay the agent's; the server's group may read them. */
  private async configOwner(): Promise<FileOwner> {
    if (!isRoot()) return {};
    return { uid: process.getuid?.(), gid: (await lookupOsUser(OS_USER, this.ctx.runner)).gid };
  }

  async prepare(req: PrepareRequest, op: OperationScope): Promise<void> {
    if (await this.isPrepared()) throw alreadyPrepared();
    this.ctx.log.info({ databases: req.databases?.length ?? 0, users: req.users?.length ?? 0 }, 'preparing PostgreSQL');
    await prepare({ ctx: this.ctx, paths: this.paths }, req, op);
    this.ctx.log.info('PostgreSQL prepared');
  }

  /** Starts the server, or adopts the one already running (after an agent restart) through the service backend. */
  async start(op: OperationScope): Promise<void> {
    await this.requirePrepared();
    const spec = await this.serviceSpec();
    op.progress(10, 'starting server');
    await this.ctx.service.start(spec, op.signal);
    await this.waitReady(spec, op);
  }

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
    await waitUntilReady(await this.adminOptions(), { service: this.ctx.service, spec, paths: this.paths }, op.signal);
    op.progress(100, 'running');
  }

  async probe(): Promise<Probe> {
    if (!(await this.isPrepared())) return { status: DatastoreStatus.NEW, version: '', facts: {} };
    const { installation } = await effective(this.ctx, this.paths);
    const spec = serviceSpec(installation, this.paths);
    const state = await this.ctx.service.state(spec);
    const facts: Record<string, string> = { major_version: String(installation.major) };
    const pid = await this.ctx.service.pid(spec).catch(() => undefined);
    if (pid) facts.pid = String(pid);
    if (state === 'crashed') return { status: DatastoreStatus.CRASHED, version: '', facts };
    if (state === 'stopped') return { status: DatastoreStatus.SHUTDOWN, version: '', facts };
    try {
      const row = await withSession(
        { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
        async (s) => {
          const [r] = await select<{ version: string; uptime: string; recovery: boolean }>(
            s,
            `SELECT current_setting('server_version') AS version,
                    floor(extract(epoch FROM now() - pg_postmaster_start_time()))::bigint::text AS uptime,
                    pg_is_in_recovery() AS recovery`,
          );
          return r;
        },
        AbortSignal.timeout(PROBE_TIMEOUT_MS),
      );
      facts.version = row.version;
      facts.uptime_seconds = row.uptime;
      // True on a standby (replication): it answers reads, which is what it is for.
      facts.in_recovery = String(row.recovery);
      return { status: DatastoreStatus.HEALTHY, version: row.version, facts };
    } catch (err) {
      // The process is there but does not answer: starting, recovering after a crash, or wedged.
      facts.error = (err as Error).message;
      return { status: DatastoreStatus.RUNNING, version: '', facts };
    }
  }

  async close(): Promise<void> {
    // Sessions are opened per operation and closed by it: nothing is pooled.
  }
}
