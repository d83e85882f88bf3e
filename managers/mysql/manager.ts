// The agent side of MySQL/MariaDB for one instance: lifecycle and probe here,
// users/databases/root in their own files. The server is always started and
// stopped through ctx.service, never directly.
import { access } from 'node:fs/promises';
import type { AgentManager, DatabaseOps, ManagerContext, OperationScope, Probe, RootOps, UserOps } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { select, withSession, type Session, type SessionOptions, type SessionRunner } from './connection.js';
import { databaseOps } from './databases.js';
import { detectFlavour, type Flavour } from './flavour.js';
import { ADMIN_SECRET, mysqlPaths, serviceSpec, type MysqlPaths } from './paths.js';
import { alreadyPrepared, prepare } from './prepare.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';

const PROBE_TIMEOUT_MS = 5_000;

export class MysqlManager implements AgentManager {
  readonly users: UserOps;
  readonly databases: DatabaseOps;
  readonly root: RootOps;
  private readonly paths: MysqlPaths;

  constructor(private readonly ctx: ManagerContext) {
    this.paths = mysqlPaths(ctx);
    const session: SessionRunner = (fn, signal) => this.adminSession(fn, signal);
    this.users = userOps(session);
    this.databases = databaseOps(session);
    this.root = rootOps(session);
  }

  private flavour(): Promise<Flavour> {
    return detectFlavour(this.ctx.runner);
  }

  /** The spec the service backend knows this server by (also used by tests to find it). */
  async serviceSpec(): Promise<ServiceSpec> {
    return serviceSpec(await this.flavour(), this.paths);
  }

  async isPrepared(): Promise<boolean> {
    return access(this.paths.preparedMarker).then(
      () => true,
      () => false,
    );
  }

  private async requirePrepared(): Promise<void> {
    if (!(await this.isPrepared())) throw failedPrecondition('MySQL has not been prepared on this instance');
  }

  private async adminOptions(): Promise<SessionOptions> {
    const password = await this.ctx.secrets.get(ADMIN_SECRET);
    if (!password) throw failedPrecondition('the MySQL admin password is missing from the secret store');
    return { socket: this.paths.socket, user: ADMIN_USER, password };
  }

  private async adminSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.requirePrepared();
    return withSession(await this.adminOptions(), fn, signal);
  }

  async prepare(req: PrepareRequest, op: OperationScope): Promise<void> {
    if (await this.isPrepared()) throw alreadyPrepared();
    this.ctx.log.info({ databases: req.databases?.length ?? 0, users: req.users?.length ?? 0 }, 'preparing MySQL');
    await prepare({ ctx: this.ctx, paths: this.paths, flavour: await this.flavour() }, req, op);
    this.ctx.log.info('MySQL prepared');
  }

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
    const ready = { service: this.ctx.service, spec, errorLog: this.paths.errorLog };
    await waitUntilReady(await this.adminOptions(), ready, op.signal);
    op.progress(100, 'running');
  }

  async probe(): Promise<Probe> {
    if (!(await this.isPrepared())) return { status: DatastoreStatus.NEW, version: '', facts: {} };
    const spec = await this.serviceSpec();
    const state = await this.ctx.service.state(spec);
    const facts: Record<string, string> = { flavour: (await this.flavour()).name };
    const pid = await this.ctx.service.pid(spec).catch(() => undefined);
    if (pid) facts.pid = String(pid);
    if (state === 'crashed') return { status: DatastoreStatus.CRASHED, version: '', facts };
    if (state === 'stopped') return { status: DatastoreStatus.SHUTDOWN, version: '', facts };
    try {
      const { row, uptime } = await withSession(
        { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
        async (s) => {
          const [row] = await select<{ version: string; readOnly: number | string; recovering: number | string }>(
            s,
            `SELECT 1, VERSION() AS version, @@GLOBAL.read_only AS readOnly,
                    @@GLOBAL.innodb_read_only OR @@GLOBAL.innodb_force_recovery > 0 AS recovering`,
          );
          const [up] = await select<{ Value: string }>(s, "SHOW GLOBAL STATUS LIKE 'Uptime'");
          return { row, uptime: up?.Value };
        },
        AbortSignal.timeout(PROBE_TIMEOUT_MS),
      );
      facts.version = row.version;
      facts.read_only = String(Number(row.readOnly) === 1);
      if (uptime) facts.uptime_seconds = uptime;
      // Started with a read-only storage engine (forced recovery): it answers, but is not fit for traffic.
      if (Number(row.recovering) === 1) {
        facts.error = 'InnoDB is read-only (forced recovery)';
        return { status: DatastoreStatus.RUNNING, version: row.version, facts };
      }
      return { status: DatastoreStatus.HEALTHY, version: row.version, facts };
    } catch (err) {
      // The process is there but does not answer: starting, recovering, or wedged.
      facts.error = (err as Error).message;
      return { status: DatastoreStatus.RUNNING, version: '', facts };
    }
  }

  async close(): Promise<void> {
    // Sessions are opened per operation and closed by it: nothing is pooled.
  }
}
