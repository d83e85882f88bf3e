// The agent side of MySQL/MariaDB for one instance: what its probe asks the
// server here, the shared lifecycle in ServerManager, users/databases/root in
// their own files, configuration groups in parameters.ts and here.
import type { AgentManager, DatabaseOps, ManagerContext, OperationScope, Probe, ReplicationOps, RootOps, UserOps } from '../sdk/contract.js';
import { ReplicationStateFile } from '../sdk/replication-state.js';
import { canonicalValue, type ConfigurationOps, type ParameterRule } from '../sdk/configuration.js';
import { type ISOLATION_LEVELS, mysqlParameters, serverValue } from './parameters.js';
import { rewriteConfig, savedMemoryMb, saveMemoryMb } from './replication-config.js';
import { mysqlReplicationOps, readStatus } from './replication.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { PROBE_TIMEOUT_MS, ServerManager } from '../sdk/server-manager.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { exec, select, withSession, type Session, type SessionOptions, type SessionRunner } from './connection.js';
import type { BackupOps } from '../sdk/backup/types.js';
import { mysqlBackupOps } from './backup.js';
import { databaseOps } from './databases.js';
import { detectFlavour, type Flavour } from './flavour.js';
import { ADMIN_SECRET, mysqlPaths, OS_USER, serviceSpec, type MysqlPaths } from './paths.js';
import type { LogOps } from '../sdk/guest-logs.js';
import { prepare } from './prepare.js';
import { handOverLogFiles, mysqlLogs } from './logs.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { waitUntilReady } from './readiness.js';
import { rootOps } from './root.js';
import { userOps } from './users.js';
import { ADMIN_USER } from './validation.js';
import { deadline } from '../sdk/signals.js';

/** SET GLOBAL TRANSACTION takes the level with spaces; both flavours accept this form (their variable names differ). */
const ISOLATION_SQL: Record<(typeof ISOLATION_LEVELS)[number], string> = {
  'READ-UNCOMMITTED': 'READ UNCOMMITTED',
  'READ-COMMITTED': 'READ COMMITTED',
  'REPEATABLE-READ': 'REPEATABLE READ',
  SERIALIZABLE: 'SERIALIZABLE',
};

/**
 * One dynamic parameter handed to the running server. The variable name is
 * the rule's (a catalog constant), never the caller's; the value goes as a
 * placeholder, a number for numeric rules (the server refuses a quoted number).
 */
async function setGlobal(s: Session, rule: ParameterRule, canonical: string): Promise<void> {
  if (rule.name === 'transaction_isolation') {
    const level = ISOLATION_SQL[canonical as keyof typeof ISOLATION_SQL];
    if (!level) throw new Error(`no isolation level ${canonical}`); // unreachable: the rule's values are the map's keys
    await exec(s, `SET GLOBAL TRANSACTION ISOLATION LEVEL ${level}`);
    return;
  }
  const numeric = rule.type === 'integer' || rule.type === 'float';
  if (rule.name === 'innodb_io_capacity') {
    // MySQL 8 refuses a capacity above innodb_io_capacity_max (MariaDB raises it). At start-up both
    // derive the maximum as twice the capacity, at least 2000; live it is only ever raised to that.
    await exec(s, 'SET GLOBAL innodb_io_capacity_max = GREATEST(@@GLOBAL.innodb_io_capacity_max, ?)', [Math.max(2000, 2 * Number(canonical))]);
  }
  await exec(s, `SET GLOBAL ${rule.name} = ?`, [numeric ? Number(canonical) : serverValue(rule, canonical)]);
}

/** Whether the server's reported value is the canonical one (numbers as numbers: 2.500000 is 2.5; ON is on). */
function sameValue(rule: ParameterRule, reported: string, canonical: string): boolean {
  if (rule.type === 'integer' || rule.type === 'float') return Number(reported) === Number(canonical);
  return reported.toLowerCase() === canonical.toLowerCase();
}

export class MysqlManager extends ServerManager implements AgentManager {
  readonly users: UserOps;
  readonly databases: DatabaseOps;
  readonly root: RootOps;
  readonly backup: BackupOps;
  readonly replication: ReplicationOps;
  readonly configuration: ConfigurationOps = { apply: (values, op) => this.applyConfiguration(values, op) };
  readonly logs: LogOps;
  private readonly paths: MysqlPaths;
  private readonly replicationState: ReplicationStateFile;

  constructor(ctx: ManagerContext) {
    const paths = mysqlPaths(ctx);
    super(ctx, { name: 'MySQL', preparedMarker: paths.preparedMarker, parameters: mysqlParameters });
    this.logs = this.guestLogs(mysqlLogs(paths));
    this.paths = paths;
    const session: SessionRunner = (fn, signal) => this.adminSession(fn, signal);
    this.users = userOps(session);
    this.databases = databaseOps(session);
    this.root = rootOps(session);
    this.backup = mysqlBackupOps({ ctx, paths });
    this.replicationState = new ReplicationStateFile(paths.replicationFile);
    this.replication = mysqlReplicationOps({
      paths,
      state: this.replicationState,
      session,
      flavour: () => this.flavour(),
      server: this,
    });
  }

  private flavour(): Promise<Flavour> {
    return detectFlavour(this.ctx.runner);
  }

  async serviceSpec(): Promise<ServiceSpec> {
    return serviceSpec(await this.flavour(), this.paths);
  }

  private async adminOptions(): Promise<SessionOptions> {
    return { socket: this.paths.socket, user: ADMIN_USER, password: await this.adminPassword(ADMIN_SECRET) };
  }

  private async adminSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.requirePrepared();
    return withSession(await this.adminOptions(), fn, signal);
  }

  protected async prepareServer(req: PrepareRequest, op: OperationScope): Promise<void> {
    await prepare({ ctx: this.ctx, paths: this.paths, flavour: await this.flavour(), replication: this.replicationState }, req, op);
  }

  /**
   * The size the saved settings were rendered for (prepare's, then each
   * resize's), not the agent's config: that still says the size the instance
   * was created with, and a group apply would hand the server its defaults.
   */
  protected override async memoryMb(): Promise<number> {
    return (await savedMemoryMb(this.paths)) ?? this.ctx.memoryMb;
  }

  // renderConfiguration renders my.cnf from the saved settings, memory-derived entries included: a resize needs nothing more.
  protected override async rememberMemory(memoryMb: number): Promise<void> {
    await saveMemoryMb(this.paths, memoryMb);
  }

  protected override async renderConfiguration(): Promise<void> {
    await handOverLogFiles(this.paths, isRoot() ? await lookupOsUser(OS_USER, this.ctx.runner) : undefined);
    await rewriteConfig(this.paths, this.replicationState.get());
  }

  /** Each dynamic value, in the catalog's order, on one admin session; the first refusal stops the rest. */
  protected override async applyLive(values: Record<string, string>, op: OperationScope): Promise<void> {
    await this.adminSession(async (s) => {
      // One read of what the server has, then a statement only for what differs: a group update
      // that changes one value costs one SET, not one per parameter.
      const rows = await select<{ Variable_name: string; Value: string }>(s, 'SHOW GLOBAL VARIABLES WHERE Variable_name IN (?)', [
        [...mysqlParameters.rules.map((r) => r.name), 'tx_isolation'],
      ]);
      const live = new Map(rows.map((r) => [r.Variable_name, String(r.Value)]));
      for (const rule of mysqlParameters.rules) {
        const raw = values[rule.name];
        if (raw === undefined || !rule.dynamic) continue;
        const canonical = canonicalValue(rule, raw, `values.${rule.name}`);
        const now = live.get(rule.name) ?? (rule.name === 'transaction_isolation' ? live.get('tx_isolation') : undefined);
        if (now !== undefined && sameValue(rule, now, canonical)) continue;
        await setGlobal(s, rule, canonical);
      }
    }, op.signal);
  }

  protected async waitUntilReady(spec: ServiceSpec, signal: AbortSignal): Promise<void> {
    const ready = { service: this.ctx.service, spec, errorLog: this.paths.errorLog };
    await waitUntilReady(await this.adminOptions(), ready, signal);
  }

  protected override async probeTarget(): Promise<{ spec: ServiceSpec; facts: Record<string, string> }> {
    return { spec: await this.serviceSpec(), facts: { flavour: (await this.flavour()).name } };
  }

  protected async probeServer(facts: Record<string, string>): Promise<Probe> {
    const { row, uptime, replication } = await withSession(
      { ...(await this.adminOptions()), connectTimeoutMs: PROBE_TIMEOUT_MS },
      async (s) => {
        const [row] = await select<{ version: string; readOnly: number | string; recovering: number | string }>(
          s,
          `SELECT 1, VERSION() AS version, @@GLOBAL.read_only AS readOnly,
                  @@GLOBAL.innodb_read_only OR @@GLOBAL.innodb_force_recovery > 0 AS recovering`,
        );
        const [up] = await select<{ Value: string }>(s, "SHOW GLOBAL STATUS LIKE 'Uptime'");
        const replication = this.replicationState.replicated ? await readStatus(s, this.replicationState) : undefined;
        return { row, uptime: up?.Value, replication };
      },
      deadline(PROBE_TIMEOUT_MS),
    );
    facts.version = row.version;
    facts.read_only = String(Number(row.readOnly) === 1);
    if (uptime) facts.uptime_seconds = uptime;
    // Started with a read-only storage engine (forced recovery): it answers, but is not fit for traffic.
    if (Number(row.recovering) === 1) {
      facts.error = 'InnoDB is read-only (forced recovery)';
      return { status: DatastoreStatus.RUNNING, version: row.version, facts, replication };
    }
    return { status: DatastoreStatus.HEALTHY, version: row.version, facts, replication };
  }
}
