// The agent side of PostgreSQL for one instance: what its probe asks the
// server here, the shared lifecycle in ServerManager, users/databases/root,
// backups and replication in their own files.
import type { LogOps } from '../sdk/guest-logs.js';
import { postgresqlLogs } from './logs.js';
import type { BackupOps } from '../sdk/backup/types.js';
import type { ConfigurationOps } from '../sdk/configuration.js';
import type { AgentManager, DatabaseOps, ManagerContext, OperationScope, Probe, ReplicationOps, RootOps, UserOps } from '../sdk/contract.js';
import { isRoot, lookupOsUser, type OsUser } from '../sdk/os-user.js';
import { ReplicationStateFile } from '../sdk/replication-state.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { PROBE_TIMEOUT_MS, ServerManager } from '../sdk/server-manager.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { readFile } from 'node:fs/promises';
import { groupConfFile, tlsInConf } from './config.js';
import { select, sessionsWith, withSession, type OpenSessions, type SessionOptions } from './connection.js';
import { applyGroupLive, writeGroupConf } from './group-config.js';
import { postgresqlParameters } from './parameters.js';
import { postgresqlBackupOps } from './backup.js';
import { databaseOps } from './databases.js';
import type { FileOwner } from './hba.js';
import { ADMIN_SECRET, OS_USER, pgPaths, serviceSpec, type PgPaths } from './paths.js';
import { prepare, writeServerConf } from './prepare.js';
import { killGroup } from './process-group.js';
import { PgReplicationFactsFile } from './replication-facts.js';
import { readStatus } from './replication-status.js';
import { postgresqlReplicationOps } from './replication.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { effective, readSettings, updateSettings, type InstanceSettings } from './settings.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';
import { walArchiveDir } from './wal-archive.js';
import { walArchiveUsage } from './wal-retention.js';
import { deadline } from '../sdk/signals.js';
import { internal } from '../sdk/errors.js';

export class PostgresqlManager extends ServerManager implements AgentManager {
  readonly users: UserOps;
  readonly databases: DatabaseOps;
  readonly root: RootOps;
  readonly backup: BackupOps;
  readonly replication: ReplicationOps;
  readonly configuration: ConfigurationOps;
  readonly logs: LogOps;
  readonly paths: PgPaths;
  private readonly open: OpenSessions;
  private readonly replicationState: ReplicationStateFile;
  private readonly replicationFacts: PgReplicationFactsFile;

  constructor(ctx: ManagerContext) {
    const paths = pgPaths(ctx);
    super(ctx, { name: 'PostgreSQL', preparedMarker: paths.preparedMarker, parameters: postgresqlParameters });
    this.paths = paths;
    this.logs = this.guestLogs(postgresqlLogs(paths));
    const open: OpenSessions = (signal) =>
      sessionsWith(async () => {
        await this.requirePrepared();
        return this.adminOptions();
      }, signal);
    this.open = open;
    this.users = userOps(open);
    this.databases = databaseOps(open);
    this.root = rootOps(open, { hbaFile: this.paths.hbaFile, owner: () => this.configOwner() });
    this.backup = postgresqlBackupOps({ ctx, paths });
    this.replicationState = new ReplicationStateFile(paths.replicationFile);
    this.replicationFacts = new PgReplicationFactsFile(paths.replicationFactsFile);
    this.replication = postgresqlReplicationOps({
      ctx,
      paths,
      state: this.replicationState,
      facts: this.replicationFacts,
      open,
      serverUser: () => this.serverUser(),
      installation: async () => (await effective(this.ctx, this.paths)).installation,
      server: this,
    });
    this.configuration = { apply: (values, op) => this.applyConfiguration(values, op) };
  }

  /** The server's OS account, when the agent runs as root (otherwise the server runs as the agent). */
  private async serverUser(): Promise<OsUser | undefined> {
    return isRoot() ? lookupOsUser(OS_USER, this.ctx.runner) : undefined;
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
    const configuration = await this.configurationState.values();
    await prepare({ ctx: this.ctx, paths: this.paths, replication: this.replicationState, facts: this.replicationFacts, configuration }, req, op);
  }

  private get groupFiles(): { configFile: string; groupConf: string } {
    return { configFile: this.paths.configFile, groupConf: groupConfFile(this.ctx.configDir) };
  }

  /** What prepare recorded, or the last resize; the agent's own size only for settings that predate recording it. */
  protected override async memoryMb(): Promise<number> {
    return (await readSettings(this.paths))?.memoryMb || this.ctx.memoryMb;
  }

  protected override async rememberMemory(memoryMb: number): Promise<void> {
    await updateSettings(this.paths, { memoryMb });
  }

  /**
   * postgresql.conf (where the memory-derived settings are) and the group's
   * file, both from what is recorded: a resize, and every apply after it,
   * renders the recorded size. The certificate prepare issued is reused, never
   * issued again.
   */
  protected override async renderConfiguration(): Promise<void> {
    await writeServerConf({ ctx: this.ctx, paths: this.paths }, await this.renderSettings());
    await writeGroupConf(this.groupFiles, await this.configurationState.values());
  }

  private async renderSettings(): Promise<InstanceSettings> {
    const saved = await readSettings(this.paths);
    if (!saved) throw internal(`${this.paths.settingsFile} is missing: the instance was not prepared`);
    // Settings written before the certificate was recorded: the files the rendered config already names.
    const tls = saved.tls === undefined ? tlsInConf(await readFile(this.paths.configFile, 'utf8')) : saved.tls;
    return { ...saved, memoryMb: await this.memoryMb(), tls };
  }

  /**
   * The server reads the values from the rendered files (reload); what it must
   * show afterwards is the group's value or Steward's default for the recorded
   * memory size. A server that is not running has nothing to take: it reads
   * the files when it starts.
   */
  protected override async applyLive(_values: Record<string, string>, op: OperationScope): Promise<void> {
    if ((await this.ctx.service.state(await this.serviceSpec())) !== 'running') {
      this.ctx.log.info('PostgreSQL is not running: the configuration group takes effect when it starts');
      return;
    }
    const expected = { ...postgresqlParameters.defaults(await this.memoryMb()), ...(await this.configurationState.values()) };
    await applyGroupLive(this.open(op.signal), this.groupFiles.groupConf, expected, op.signal);
  }

  /**
   * The fence of last resort kills the whole server: a killed postmaster's
   * backends would go on serving their sessions (and committing) until they
   * notice it is gone (process-group.ts).
   */
  override async killServer(): Promise<void> {
    const pid = await this.ctx.service.pid(await this.serviceSpec()).catch(() => undefined);
    await super.killServer();
    if (pid) await killGroup(pid);
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
    const { row, replication } = await withSession(
      { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
      async (s) => {
        const [r] = await select<{ version: string; uptime: string; recovery: boolean }>(
          s,
          `SELECT current_setting('server_version') AS version,
                  floor(extract(epoch FROM now() - pg_postmaster_start_time()))::bigint::text AS uptime,
                  pg_is_in_recovery() AS recovery`,
        );
        const replication = this.replicationState.replicated ? await readStatus(s, this.replicationState.get()) : undefined;
        return { row: r, replication };
      },
      deadline(PROBE_TIMEOUT_MS),
    );
    facts.version = row.version;
    facts.uptime_seconds = row.uptime;
    // True on a standby (replication): it answers reads, which is what it is for.
    facts.in_recovery = String(row.recovery);
    if (replication) facts.read_only = String(replication.readOnly);
    return { status: DatastoreStatus.HEALTHY, version: row.version, facts, replication };
  }
}
