// The agent side of Cassandra for one node: lifecycle and probe here; roles,
// keyspaces, root, backups and cluster member operations in their own files. The
// server is always started and stopped through ctx.service, never directly.
import { growFilesystem } from '../sdk/volume.js';
import { guestLogs, type LogOps } from '../sdk/guest-logs.js';
import { access } from 'node:fs/promises';
import { type AppliedConfiguration, type ConfigurationOps, checkParameters } from '../sdk/configuration.js';
import { ConfigurationState } from '../sdk/configuration-state.js';
import type { AgentManager, DatabaseOps, ManagerContext, OperationScope, Probe, RootOps, UserOps } from '../sdk/contract.js';
import { failedPrecondition, internal } from '../sdk/errors.js';
import type { BackupOps } from '../sdk/backup/types.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { DatastoreStatus, type PrepareRequest } from '../sdk/types.js';
import { cassandraBackupOps } from './backup.js';
import { clusterOps, type ClusterOps } from './cluster.js';
import { loadSettings, writeConfig, type NodeSettings } from './config.js';
import type { Endpoint, Session, SessionRunner } from './connection.js';
import { AdminAccess } from './credentials.js';
import { optionsFromEnv, resolveInstallation, type CassandraOptions, type Installation } from './install.js';
import { serviceSpec } from './jvm.js';
import { keyspaceOps } from './keyspaces.js';
import { nodetool } from './nodetool.js';
import { cassandraParameters, LIVE_COMMANDS, liveValue, liveValues, parameterYaml } from './parameters.js';
import { cassandraPaths, type CassandraPaths } from './paths.js';
import { alreadyPrepared, isPreparedAt, prepare } from './prepare.js';
import { waitForCql } from './readiness.js';
import { rootOps } from './root.js';
import { roleOps } from './users.js';
import { deadline } from '../sdk/signals.js';
import { subScope } from '../sdk/backup/progress.js';

const PROBE_TIMEOUT_MS = 5_000;
const DRAIN_TIMEOUT_MS = 5 * 60_000;
const RESIZE_BACK_TIMEOUT_MS = 10 * 60_000;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

export class CassandraManager implements AgentManager {
  readonly users: UserOps;
  readonly databases: DatabaseOps;
  readonly root: RootOps;
  readonly cluster: ClusterOps;
  readonly backup: BackupOps;
  readonly paths: CassandraPaths;
  readonly access: AdminAccess;
  readonly configuration: ConfigurationOps;
  /** system.log, always on (logback rolls it). */
  readonly logs: LogOps;
  /** The configuration group's values in force and what awaits a restart; every render of cassandra.yaml reads the values from here. */
  private readonly configurationState: ConfigurationState;
  private installation?: Promise<Installation>;

  constructor(
    private readonly ctx: ManagerContext,
    readonly options: CassandraOptions = optionsFromEnv(),
  ) {
    this.paths = cassandraPaths(ctx, options.confDir);
    this.access = new AdminAccess(ctx.secrets, this.paths);
    this.configurationState = new ConfigurationState(ctx.configDir);
    const systemLog = this.paths.systemLog;
    this.logs = guestLogs({
      instanceId: ctx.instanceId,
      specs: [{ name: 'system', description: "The node's log: start-up, gossip, compaction, streaming, warnings", file: async () => systemLog }],
    });
    this.configuration = { apply: (values, op) => this.applyConfiguration(values, op) };
    const session: SessionRunner = (fn, signal) => this.adminSession(fn, signal);
    const adminName = () => this.access.adminName();
    this.users = roleOps(session, adminName);
    this.databases = keyspaceOps(session);
    this.root = rootOps(session);
    this.cluster = clusterOps({
      paths: this.paths,
      access: this.access,
      requirePrepared: () => this.requirePrepared(),
      settings: () => loadSettings(this.paths),
      writeConfig: (settings) => this.renderConfiguration(settings),
      endpoint: () => this.endpoint(),
      session,
      nodetool: (args, signal, timeoutMs) => this.nodetool(args, signal, timeoutMs),
      stopServer: (op) => this.stop(op),
      isDecommissioned: () => this.isDecommissioned(),
    });
    this.backup = cassandraBackupOps({
      ctx,
      paths: this.paths,
      session,
      nodetool: (args, signal, timeoutMs) => this.nodetool(args, signal, timeoutMs),
      requireRunning: () => this.requireRunning(),
    });
  }

  private inst(): Promise<Installation> {
    this.installation ??= resolveInstallation(this.options).catch((err) => {
      this.installation = undefined; // let a later call retry once the host is fixed
      throw err;
    });
    return this.installation;
  }

  /** The spec the service backend knows this node by (also used by tests to find it). */
  async serviceSpec(): Promise<ServiceSpec> {
    const settings = await loadSettings(this.paths);
    return serviceSpec({ inst: await this.inst(), paths: this.paths, settings, extraJvmOptions: this.options.extraJvmOptions });
  }

  private async endpoint(): Promise<Endpoint> {
    const s = await loadSettings(this.paths);
    return { address: s.address, port: s.nativePort };
  }

  async isPrepared(): Promise<boolean> {
    return isPreparedAt(this.paths.preparedMarker);
  }

  isDecommissioned(): Promise<boolean> {
    return exists(this.paths.decommissionedMarker);
  }

  private async requirePrepared(): Promise<void> {
    if (!(await this.isPrepared())) throw failedPrecondition('Cassandra has not been prepared on this instance');
  }

  private async requireInRing(): Promise<void> {
    await this.requirePrepared();
    if (await this.isDecommissioned()) throw failedPrecondition('this node was decommissioned: it has left the ring and is not started again');
  }

  /** A snapshot needs the server up: nodetool talks to it, and it writes the snapshot itself. */
  private async requireRunning(): Promise<void> {
    await this.requireInRing();
    if ((await this.ctx.service.state(await this.serviceSpec())) !== 'running') {
      throw failedPrecondition('the Cassandra node is not running: start it first');
    }
  }

  private async adminSession<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.requireInRing();
    return this.access.session(await this.endpoint(), fn, signal);
  }

  private async nodetool(args: string[], signal: AbortSignal, timeoutMs?: number): Promise<string> {
    const settings = await loadSettings(this.paths);
    return nodetool({ runner: this.ctx.runner, inst: await this.inst(), paths: this.paths, settings }, args, signal, timeoutMs);
  }

  async prepare(req: PrepareRequest, op: OperationScope): Promise<void> {
    if (await this.isPrepared()) throw alreadyPrepared();
    this.ctx.log.info(
      {
        keyspaces: req.databases?.length ?? 0,
        roles: req.users?.length ?? 0,
        cluster: req.cluster?.clusterName || undefined,
        restore: req.restore?.chain?.[0]?.artifact?.backupId,
      },
      'preparing Cassandra',
    );
    const previous = await loadSettings(this.paths).catch(() => undefined);
    // Recorded before anything renders cassandra.yaml: the node's first start has the group.
    const configuration = checkParameters(cassandraParameters.rules, req.configuration ?? {}, 'configuration');
    await this.configurationState.record(cassandraParameters.rules, configuration);
    await this.configurationState.started();
    const deps = { ctx: this.ctx, paths: this.paths, options: this.options, inst: await this.inst(), access: this.access, previous, configuration };
    await prepare(deps, req, op);
    this.ctx.log.info('Cassandra prepared');
  }

  /** Starts the node, or adopts the one already running (agent restart). */
  async start(op: OperationScope): Promise<void> {
    await this.requireInRing();
    const spec = await this.serviceSpec();
    // An adopted server has not read cassandra.yaml again: what awaits a restart still does.
    const adopting = (await this.ctx.service.state(spec)) === 'running';
    op.progress(10, 'starting server');
    await this.ctx.service.start(spec, op.signal);
    await this.waitReady(spec, op);
    if (!adopting) await this.configurationState.started();
  }

  /** Drains first (memtables flushed, no commit log replay on the next start), then stops. */
  async stop(op: OperationScope): Promise<void> {
    const settings = await loadSettings(this.paths).catch(() => undefined);
    if (!settings) return; // never configured: nothing can be running
    const spec = await this.serviceSpec();
    if ((await this.ctx.service.state(spec)) === 'running') {
      op.progress(10, 'draining');
      await this.nodetool(['drain'], op.signal, DRAIN_TIMEOUT_MS).catch((err: Error) => {
        if (op.signal.aborted) throw err;
        this.ctx.log.warn({ err: err.message }, 'nodetool drain failed; stopping without it');
      });
    }
    op.progress(50, 'stopping server');
    await this.ctx.service.stop(spec, op.signal);
    op.progress(100, 'stopped');
  }

  /** The data volume's filesystem grown online (the node keeps running). */
  async growVolume(op: OperationScope): Promise<void> {
    await growFilesystem(this.ctx, op);
  }

  async restart(op: OperationScope): Promise<void> {
    await this.requireInRing();
    await this.cycle(op);
  }

  /**
   * Stop, then start. `whileDown` renders what the next start must read: a new
   * heap is on the command line, and the process backend finds the running
   * node by its command line, so the old one is stopped before it changes.
   */
  private async cycle(op: OperationScope, whileDown?: () => Promise<void>): Promise<void> {
    await this.stop({ signal: op.signal, progress: (p, m) => op.progress(Math.floor(p / 3), m) });
    await whileDown?.();
    const spec = await this.serviceSpec();
    op.progress(40, 'starting server');
    await this.ctx.service.start(spec, op.signal);
    await this.waitReady(spec, op);
    // The server read cassandra.yaml afresh: whatever a group changed is in force now.
    await this.configurationState.started();
  }

  /**
   * Memory resize: the group checked against the new size, the size saved
   * with the node's settings (where the heap, the thread pools, the caches
   * and every later render read it), one restart. A restart that fails takes
   * the old size back the same way before the error is reported.
   */
  async resize(memoryMb: number, op: OperationScope): Promise<void> {
    await this.requireInRing();
    const why = cassandraParameters.fits?.(await this.configurationState.values(), memoryMb);
    if (why) throw failedPrecondition(`the configuration group does not fit ${memoryMb} MB: ${why}`);
    const settings = await loadSettings(this.paths);
    const before = settings.memoryMb;
    op.progress(5, `resizing from ${before} MB to ${memoryMb} MB`);
    try {
      await this.cycle(subScope(op, 10, 100), () => this.renderConfiguration({ ...settings, memoryMb }));
    } catch (err) {
      this.ctx.log.error({ err: (err as Error).message, memoryMb, before }, 'resize failed: taking the old size back');
      // Its own deadline: a cancelled resize still leaves the node at its old size.
      const back = { signal: deadline(RESIZE_BACK_TIMEOUT_MS), progress: () => undefined };
      await this.cycle(back, () => this.renderConfiguration(settings)).catch((again: Error) => {
        this.ctx.log.error({ err: again.message }, 'the node did not start again at its old size either');
      });
      throw err;
    }
  }

  /**
   * A configuration group applied (the whole group: a parameter it does not
   * set goes back to Steward's default): recorded, rendered into
   * cassandra.yaml (so any restart keeps it), and each dynamic parameter
   * handed to the running node. Restart-required changes stay pending until
   * the node next starts through start/restart.
   */
  private async applyConfiguration(values: Record<string, string>, op: OperationScope): Promise<AppliedConfiguration> {
    await this.requireInRing();
    // Checked again on this side: only canonical values are rendered or handed to nodetool.
    const group = checkParameters(cassandraParameters.rules, values, 'values');
    op.progress(10, 'recording the configuration');
    const applied = await this.configurationState.record(cassandraParameters.rules, group);
    op.progress(30, 'rendering cassandra.yaml');
    const settings = await loadSettings(this.paths);
    await this.renderConfiguration(settings);
    op.progress(60, 'applying dynamic values');
    await this.applyLive(liveValues(settings.memoryMb, group), op);
    op.progress(100, applied.pendingRestart.length ? `applied; restart required for ${applied.pendingRestart.join(', ')}` : 'applied');
    return applied;
  }

  /** Saves the settings and renders every config file, the group's values over the defaults: every render goes through here. */
  private async renderConfiguration(settings: NodeSettings): Promise<void> {
    await writeConfig(this.paths, settings, parameterYaml(settings.memoryMb, await this.configurationState.values()));
  }

  /**
   * Hands the running node the dynamic values it does not already have
   * (system_views.settings says what it runs with): each nodetool call starts a
   * JVM, so only changes are sent. A stopped node reads them from cassandra.yaml
   * when it starts.
   */
  private async applyLive(values: Record<string, string>, op: OperationScope): Promise<void> {
    if ((await this.ctx.service.state(await this.serviceSpec())) !== 'running') return;
    const rows = await this.adminSession((s) => s.rows('SELECT name, value FROM system_views.settings'), op.signal);
    const running = new Map(rows.map((r) => [String(r.name), r.value == null ? null : String(r.value)]));
    for (const [name, value] of Object.entries(values)) {
      const command = LIVE_COMMANDS[name];
      if (!command) throw internal(`the dynamic parameter ${name} has no live command`);
      if (liveValue(name, running.get(name)) === value) continue;
      await this.nodetool(command(value), op.signal);
    }
  }

  /** The instance is about to be deleted: stop for good; the data goes with the machine. */
  async destroy(op: OperationScope): Promise<void> {
    await this.stop(op);
    await this.ctx.service.forget(await this.serviceSpec());
  }

  private async waitReady(spec: ServiceSpec, op: OperationScope): Promise<void> {
    op.progress(60, 'waiting for CQL');
    const [credentials] = await this.access.candidates();
    if (!credentials) throw failedPrecondition('no Cassandra admin credentials are stored on this node');
    const ready = { service: this.ctx.service, spec, logs: [this.paths.consoleLog, this.paths.systemLog] };
    await waitForCql(ready, await this.endpoint(), credentials, op.signal, { requireLogin: false });
    op.progress(100, 'running');
  }

  async probe(): Promise<Probe> {
    if (await this.isDecommissioned()) return { status: DatastoreStatus.SHUTDOWN, version: '', facts: { decommissioned: 'true' } };
    if (!(await this.isPrepared())) return { status: DatastoreStatus.NEW, version: '', facts: {} };
    const spec = await this.serviceSpec();
    const state = await this.ctx.service.state(spec);
    const facts: Record<string, string> = {};
    const pid = await this.ctx.service.pid(spec).catch(() => undefined);
    if (pid) facts.pid = String(pid);
    if (state === 'crashed') return { status: DatastoreStatus.CRASHED, version: '', facts };
    if (state === 'stopped') return { status: DatastoreStatus.SHUTDOWN, version: '', facts };
    try {
      const endpoint = await this.endpoint();
      const { local, gossip } = await this.access.session(
        endpoint,
        async (s) => ({
          local: (await s.rows('SELECT release_version, cluster_name, data_center, rack, host_id, bootstrapped FROM system.local'))[0],
          gossip: await s.rows('SELECT address, status, status_with_port FROM system_views.gossip_info'),
        }),
        deadline(PROBE_TIMEOUT_MS),
        { connectTimeoutMs: PROBE_TIMEOUT_MS, readTimeoutMs: PROBE_TIMEOUT_MS },
      );
      const version = String(local?.release_version ?? '');
      Object.assign(facts, ringFacts(local, gossip, endpoint.address));
      facts.version = version;
      return { status: facts.node_state === 'normal' ? DatastoreStatus.HEALTHY : DatastoreStatus.RUNNING, version, facts };
    } catch (err) {
      // The process is there but does not answer: starting, bootstrapping, or wedged.
      facts.error = (err as Error).message;
      return { status: DatastoreStatus.RUNNING, version: '', facts };
    }
  }

  async close(): Promise<void> {
    // Sessions are opened per operation and closed by it: nothing is pooled.
  }
}

/** Gossip's word for a node's state ("NORMAL,<token>", "BOOT,...", "LEAVING,...", "shutdown,true") in the ring's terms. */
export function gossipState(status: unknown): string {
  const word = String(status ?? '')
    .split(',')[0]
    .toUpperCase();
  switch (word) {
    case 'NORMAL':
      return 'normal';
    case 'BOOT':
    case 'BOOT_REPLACE':
      return 'joining';
    case 'LEAVING':
      return 'leaving';
    case 'LEFT':
      return 'left';
    case 'MOVING':
      return 'moving';
    case 'SHUTDOWN':
      return 'down';
    case 'REMOVING':
    case 'REMOVED':
      return 'removed';
    case 'HIBERNATE':
      return 'hibernating';
    default:
      return word ? word.toLowerCase() : 'unknown';
  }
}

type Row = Record<string, unknown> | undefined;

/** Since 4.0 peers gossip STATUS_WITH_PORT; the plain STATUS may be missing for them. */
const statusOf = (g: Record<string, unknown>): unknown => g.status_with_port ?? g.status;

/** Facts for the heartbeat: who this node is and how the ring looks from here, without nodetool (too costly every few seconds). */
export function ringFacts(local: Row, gossip: Array<Record<string, unknown>>, address: string): Record<string, string> {
  const facts: Record<string, string> = {
    cluster_name: String(local?.cluster_name ?? ''),
    data_center: String(local?.data_center ?? ''),
    rack: String(local?.rack ?? ''),
    host_id: local?.host_id ? String(local.host_id) : '',
    bootstrapped: String(local?.bootstrapped ?? ''),
  };
  const counts: Record<string, number> = {};
  for (const g of gossip) {
    const st = gossipState(statusOf(g));
    if (st === 'left' || st === 'removed') continue;
    counts[st] = (counts[st] ?? 0) + 1;
  }
  facts.ring_members = String(Object.values(counts).reduce((a, b) => a + b, 0));
  for (const [st, n] of Object.entries(counts)) facts[`ring_${st}`] = String(n);
  const own = gossip.find((g) => String(g.address) === address);
  // No gossip row of its own yet: still starting, whatever system.local says.
  facts.node_state = own ? gossipState(statusOf(own)) : 'joining';
  return facts;
}
