// The agent side of PostgreSQL for one instance: what its probe asks the
// server here, the shared lifecycle in ServerManager, users/databases/root and
// backups in their own files.
import type { BackupOps } from '../sdk/backup/types.js';
import type { AgentManager, DatabaseOps, ManagerContext, OperationScope, Probe, RootOps, UserOps } from '../sdk/contract.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { PROBE_TIMEOUT_MS, ServerManager } from '../sdk/server-manager.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { select, sessionsWith, withSession, type OpenSessions, type SessionOptions } from './connection.js';
import { postgresqlBackupOps } from './backup.js';
import { databaseOps } from './databases.js';
import type { FileOwner } from './hba.js';
import { ADMIN_SECRET, OS_USER, pgPaths, serviceSpec, type PgPaths } from './paths.js';
import { prepare } from './prepare.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { effective } from './settings.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';
import { walArchiveDir } from './wal-archive.js';
import { walArchiveUsage } from './wal-retention.js';
import { deadline } from '../sdk/signals.js';

export class PostgresqlManager extends ServerManager implements AgentManager {
  readonly users: UserOps;
  readonly databases: DatabaseOps;
  readonly root: RootOps;
  readonly backup: BackupOps;
  readonly paths: PgPaths;

  constructor(ctx: ManagerContext) {
    const paths = pgPaths(ctx);
    super(ctx, { name: 'PostgreSQL', preparedMarker: paths.preparedMarker });
    this.paths = paths;
    const open: OpenSessions = (signal) =>
      sessionsWith(async () => {
        await this.requirePrepared();
        return this.adminOptions();
      }, signal);
    this.users = userOps(open);
    this.databases = databaseOps(open);
    this.root = rootOps(open, { hbaFile: this.paths.hbaFile, owner: () => this.configOwner() });
    this.backup = postgresqlBackupOps({ ctx, paths });
  }

  async serviceSpec(): Promise<ServiceSpec> {
    return serviceSpec((await effective(this.ctx, this.paths)).installation, this.paths);
  }

  private async adminOptions(): Promise<SessionOptions> {
    const password = await this.adminPassword(ADMIN_SECRET);
    const { port } = await effective(this.ctx, this.paths);
    return { host: this.paths.socketDir, port, user: ADMIN_USER, password };
  }

  /** Config files stay the agent's; the server's group may read them. */
  private async configOwner(): Promise<FileOwner> {
    if (!isRoot()) return {};
    return { uid: process.getuid?.(), gid: (await lookupOsUser(OS_USER, this.ctx.runner)).gid };
  }

  protected async prepareServer(req: PrepareRequest, op: OperationScope): Promise<void> {
    await prepare({ ctx: this.ctx, paths: this.paths }, req, op);
  }

  protected async waitUntilReady(spec: ServiceSpec, signal: AbortSignal): Promise<void> {
    await waitUntilReady(await this.adminOptions(), { service: this.ctx.service, spec, paths: this.paths }, signal);
  }

  protected override async probeTarget(): Promise<{ spec: ServiceSpec; facts: Record<string, string> }> {
    const { installation } = await effective(this.ctx, this.paths);
    const facts: Record<string, string> = { major_version: String(installation.major) };
    // What the WAL archive holds (pruned after each backup): readdir and stat, the server is not asked.
    const archive = await walArchiveUsage(walArchiveDir(this.ctx)).catch(() => undefined);
    if (archive) {
      facts.wal_archive_bytes = String(archive.bytes);
      facts.wal_archive_segments = String(archive.segments);
    }
    return { spec: serviceSpec(installation, this.paths), facts };
  }

  protected async probeServer(facts: Record<string, string>): Promise<Probe> {
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
      deadline(PROBE_TIMEOUT_MS),
    );
    facts.version = row.version;
    facts.uptime_seconds = row.uptime;
    // True on a standby (replication): it answers reads, which is what it is for.
    facts.in_recovery = String(row.recovery);
    return { status: DatastoreStatus.HEALTHY, version: row.version, facts };
  }
}
