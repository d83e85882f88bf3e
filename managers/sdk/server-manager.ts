// The lifecycle every manager of one server process shares. The server is
// always started and stopped through ctx.service, never directly, so the same
// code works under the process and the systemd backends and a restarted agent
// adopts the running server instead of starting a second one. What differs per
// datastore (its service spec, what "ready" means, what a live server reports)
// is left to the subclass.
import { rm } from 'node:fs/promises';
import { checkParameters, type AppliedConfiguration, type ParameterCatalog } from './configuration.js';
import { ConfigurationState } from './configuration-state.js';
import type { ManagerContext, OperationScope, Probe } from './contract.js';
import { guestLogs, type LogOps, type LogSpec } from './guest-logs.js';
import { growFilesystem } from './volume.js';
import { failedPrecondition } from './errors.js';
import { subScope } from './backup/progress.js';
import { deadline } from './signals.js';
import { isPrepared } from './prepared.js';
import type { ServiceSpec } from './service-control.js';
import { DatastoreStatus, type PrepareRequest } from './types.js';

/** Probes run every few seconds: one that waits longer would only pile up behind a wedged server. */
export const PROBE_TIMEOUT_MS = 5_000;

export interface ServerDescription {
  /** How messages name the datastore ("MySQL"). */
  name: string;
  preparedMarker: string;
  /** The parameters configuration groups may set (capability "configuration"). */
  parameters?: ParameterCatalog;
}

export abstract class ServerManager {
  /** The configuration group's values in force and what awaits a restart; every config render reads the values from here. */
  protected readonly configurationState: ConfigurationState;

  protected constructor(
    protected readonly ctx: ManagerContext,
    private readonly server: ServerDescription,
  ) {
    this.configurationState = new ConfigurationState(ctx.configDir);
  }

  /** Renders the datastore's config files again from what the manager knows, the group's values included. */
  protected renderConfiguration?(): Promise<void>;

  /** The memory size the manager renders for now: what prepare recorded, or the last resize (default: the agent's config). */
  protected async memoryMb(): Promise<number> {
    return this.ctx.memoryMb;
  }

  /** Records a new memory size where `memoryMb()` and every render read it (capability "resize"). */
  protected rememberMemory?(memoryMb: number): Promise<void>;

  /** Renders every config file that holds memory-derived settings (default: renderConfiguration). */
  protected renderForResize?(): Promise<void>;

  /**
   * Memory resize: the group checked against the new size, the size recorded,
   * the config rendered, one restart. A restart that fails puts the old size
   * back (recorded, rendered, restarted) before the error is reported.
   */
  async resize(memoryMb: number, op: OperationScope): Promise<void> {
    const render = this.renderForResize ?? this.renderConfiguration;
    if (!this.rememberMemory || !render) throw failedPrecondition(`${this.server.name} cannot be resized by this agent`);
    await this.requirePrepared();
    const why = this.server.parameters?.fits?.(await this.configurationState.values(), memoryMb);
    if (why) throw failedPrecondition(`the configuration group does not fit ${memoryMb} MB: ${why}`);
    const before = await this.memoryMb();
    op.progress(5, `resizing from ${before} MB to ${memoryMb} MB`);
    await this.rememberMemory(memoryMb);
    try {
      await render.call(this);
      await this.restart(subScope(op, 20, 100));
    } catch (err) {
      this.ctx.log.error({ err: (err as Error).message, memoryMb, before }, 'resize failed: taking the old size back');
      await this.rememberMemory(before);
      await render.call(this);
      await this.restart({ signal: deadline(5 * 60_000), progress: () => undefined }).catch((again: Error) => {
        this.ctx.log.error({ err: again.message }, 'the server did not start again at its old size either');
      });
      throw err;
    }
  }

  /** Hands the running server these values of its dynamic parameters now (SET GLOBAL, ALTER SYSTEM + reload, CONFIG SET). */
  protected applyLive?(values: Record<string, string>, op: OperationScope): Promise<void>;

  /**
   * A configuration group applied: recorded, rendered into the config (so any
   * restart keeps it), and every dynamic parameter handed to the running
   * server, the group's value or Steward's default for those the group does not
   * set (so a detach takes values back). Restart-required changes stay pending
   * until the server next starts through start/restart.
   */
  protected async applyConfiguration(values: Record<string, string>, op: OperationScope): Promise<AppliedConfiguration> {
    const catalog = this.server.parameters;
    if (!catalog || !this.renderConfiguration || !this.applyLive) throw failedPrecondition(`${this.server.name} has no configuration groups`);
    await this.requirePrepared();
    op.progress(10, 'recording the configuration');
    // Canonical before it is compared with what is in force: "TRUE" then "on" is no change.
    const applied = await this.configurationState.record(catalog.rules, checkParameters(catalog.rules, values));
    await this.renderAndApply(op);
    op.progress(100, applied.pendingRestart.length ? `applied; restart required for ${applied.pendingRestart.join(', ')}` : 'applied');
    return applied;
  }

  /** The config rendered again from the recorded state, and every dynamic parameter in force handed to the server. */
  private async renderAndApply(op: OperationScope): Promise<void> {
    const catalog = this.server.parameters;
    if (!catalog || !this.renderConfiguration || !this.applyLive) throw failedPrecondition(`${this.server.name} has no configuration groups`);
    op.progress(30, 'rendering the config file');
    await this.renderConfiguration();
    const inForce = { ...catalog.defaults(await this.memoryMb()), ...(await this.configurationState.values()) };
    const live: Record<string, string> = {};
    for (const r of catalog.rules) if (r.dynamic && inForce[r.name] !== undefined) live[r.name] = inForce[r.name]!;
    op.progress(60, 'applying dynamic values');
    await this.applyLive(live, op);
  }

  /** The data volume's filesystem grown online (the server keeps running). */
  async growVolume(op: OperationScope): Promise<void> {
    await growFilesystem(this.ctx, op);
  }

  /** The datastore's logs (capability "logs"); optional ones switch through the configuration parameters. */
  protected guestLogs(specs: readonly LogSpec[]): LogOps {
    const catalog = this.server.parameters;
    return guestLogs({
      instanceId: this.ctx.instanceId,
      specs,
      configuration: catalog && {
        catalog,
        state: this.configurationState,
        defaults: async () => catalog.defaults(await this.memoryMb()),
        apply: async (op) => {
          await this.requirePrepared();
          await this.renderAndApply(op);
        },
      },
    });
  }

  /** The spec the service backend knows this server by (also used by tests to find it). */
  abstract serviceSpec(): Promise<ServiceSpec>;

  /** From an empty instance to a secured, running server with what the request asks for. */
  protected abstract prepareServer(req: PrepareRequest, op: OperationScope): Promise<void>;

  /** Resolves once a (re)started server accepts the agent's requests; rejects, saying why, when it never will. */
  protected abstract waitUntilReady(spec: ServiceSpec, signal: AbortSignal): Promise<void>;

  /** Asks the running server how it is, adding to `facts`; rejecting means it does not answer. */
  protected abstract probeServer(facts: Record<string, string>): Promise<Probe>;

  /** What a probe looks up without asking the server: the spec to ask the backend about, and facts of its own. */
  protected async probeTarget(): Promise<{ spec: ServiceSpec; facts: Record<string, string> }> {
    return { spec: await this.serviceSpec(), facts: {} };
  }

  /** What the "preparing" log line says about the request. */
  protected prepareSummary(req: PrepareRequest): Record<string, unknown> {
    return { databases: req.databases?.length ?? 0, users: req.users?.length ?? 0 };
  }

  async isPrepared(): Promise<boolean> {
    return isPrepared(this.server.preparedMarker);
  }

  protected async requirePrepared(): Promise<void> {
    if (!(await this.isPrepared())) throw failedPrecondition(`${this.server.name} has not been prepared on this instance`);
  }

  /** The password prepare stored for the agent's admin account: without it the instance cannot be managed. */
  protected async adminPassword(secret: string): Promise<string> {
    const password = await this.ctx.secrets.get(secret);
    if (!password) throw failedPrecondition(`the ${this.server.name} admin password is missing from the secret store`);
    return password;
  }

  async prepare(req: PrepareRequest, op: OperationScope): Promise<void> {
    if (await this.isPrepared()) throw failedPrecondition(`${this.server.name} is already prepared on this instance`);
    this.ctx.log.info(this.prepareSummary(req), `preparing ${this.server.name}`);
    // The group is recorded before anything renders a config: the server's first start has it.
    if (this.server.parameters) {
      const { rules } = this.server.parameters;
      await this.configurationState.record(rules, checkParameters(rules, req.configuration ?? {}, 'configuration'));
      await this.configurationState.started();
    }
    await this.prepareServer(req, op);
    this.ctx.log.info(`${this.server.name} prepared`);
  }

  /** Starts the server, or adopts the one already running (after an agent restart) through the service backend. */
  async start(op: OperationScope): Promise<void> {
    // A server already running is adopted, not started: it has not read its config again, so what was pending still is.
    const adopting = (await this.ctx.service.state(await this.serviceSpec())) === 'running';
    await this.bringUp(op, 'starting server', (spec) => this.ctx.service.start(spec, op.signal), !adopting);
  }

  async restart(op: OperationScope): Promise<void> {
    await this.bringUp(op, 'restarting server', (spec) => this.ctx.service.restart(spec, op.signal), true);
  }

  /** The spec's stop signal is the datastore's clean shutdown; the backend escalates to SIGKILL only after its timeout. */
  async stop(op: OperationScope): Promise<void> {
    op.progress(10, 'stopping server');
    await this.ctx.service.stop(await this.serviceSpec(), op.signal);
    op.progress(100, 'stopped');
  }

  /** SIGKILL, kept down: the fence of last resort for a primary whose server no longer answers. */
  async killServer(): Promise<void> {
    this.ctx.log.warn(`${this.server.name} does not answer a fence: killing it so that it takes no write when it wakes`);
    await this.ctx.service.kill(await this.serviceSpec());
  }

  /** Replaces everything this instance had: stopped, unmarked, prepared again from `req` (a replica rebuilt from a backup). */
  async prepareAgain(req: PrepareRequest, op: OperationScope): Promise<void> {
    await this.ctx.service.stop(await this.serviceSpec(), op.signal);
    await rm(this.server.preparedMarker, { force: true });
    await this.prepare(req, op);
  }

  /** The instance is about to be deleted: stop for good; the data goes with the machine. */
  async destroy(op: OperationScope): Promise<void> {
    await this.stop(op);
    await this.ctx.service.forget(await this.serviceSpec());
  }

  /** Only a prepared server is started: before that there is nothing to run, or a half-made attempt. */
  private async bringUp(op: OperationScope, step: string, action: (spec: ServiceSpec) => Promise<void>, readsConfig: boolean): Promise<void> {
    await this.requirePrepared();
    const spec = await this.serviceSpec();
    op.progress(10, step);
    await action(spec);
    op.progress(50, 'waiting for the server to accept connections');
    await this.waitUntilReady(spec, op.signal);
    // The server read its config afresh: whatever a group changed is in force now.
    if (readsConfig) await this.configurationState.started();
    op.progress(100, 'running');
  }

  async probe(): Promise<Probe> {
    if (!(await this.isPrepared())) return { status: DatastoreStatus.NEW, version: '', facts: {} };
    const { spec, facts } = await this.probeTarget();
    const state = await this.ctx.service.state(spec);
    const pid = await this.ctx.service.pid(spec).catch(() => undefined);
    if (pid) facts.pid = String(pid);
    if (state === 'crashed') return { status: DatastoreStatus.CRASHED, version: '', facts };
    if (state === 'stopped') return { status: DatastoreStatus.SHUTDOWN, version: '', facts };
    try {
      return await this.probeServer(facts);
    } catch (err) {
      // The process is there but does not answer: starting, recovering (loading its data), or wedged.
      facts.error = (err as Error).message;
      return { status: DatastoreStatus.RUNNING, version: '', facts };
    }
  }

  async close(): Promise<void> {
    // Sessions are opened per operation and closed by it: nothing is pooled.
  }
}
