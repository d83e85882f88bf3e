// The `local` provisioner: one agent process per instance on this machine, each
// with its own state directory and datastore port, supervised like systemd
// would (restarted when it dies unexpectedly). Agents run detached so that a
// controller restart leaves them and their datastores running.
import { attachVolume, createVolume, growVolume, imageOf, releaseVolume, volumeUnavailableReason } from './volumes.js';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { isBundled } from '../../managers/sdk/assets.js';
import type { Logger } from '../../managers/sdk/logger.js';
import type { Store } from '../store/open.js';
import type { Placement, ProvisionRequest, Provisioner } from './provisioner.js';
import { freeLoopbackPort, isAlive, pidsMentioning, terminate } from './processes.js';

export interface LocalProvisionerOptions {
  dataDir: string;
  /** Agent gateway (mutual TLS) and enrollment (API port) addresses, and the CA agents pin. */
  controllerAddress: string;
  enrollAddress: string;
  caFile: string;
  insecure: boolean;
  heartbeatIntervalMs: number;
  restartAgents: boolean;
  logLevel: string;
  /** Loopback addresses to skip, so several controllers on one host hand out different ones. */
  loopbackOffset: number;
  /** The command that starts an agent (`--config <file>` is appended), e.g. an installed `steward-agent`; default: agentArgv. */
  agentCommand?: string[];
}

const AGENT_SOURCE = fileURLToPath(new URL('../../agent/main.ts', import.meta.url));
/** The built agent: beside this code in a build, in dist/ of a source checkout (set-up builds it). */
const AGENT_BUILT = fileURLToPath(isBundled() ? new URL('./steward-agent.mjs', import.meta.url) : new URL('../../dist/steward-agent.mjs', import.meta.url));

/**
 * How an agent process is started: the build (no transpiling at run time),
 * unless the datastore's manager exists only as TypeScript (an out-of-tree
 * manager in development, the tests' no-op fixture), or STEWARD_AGENT_FROM_SOURCE=1.
 */
export function agentArgv(datastore: string, configPath: string): string[] {
  const typescriptOnly = isAbsolute(datastore) && !existsSync(join(datastore, 'agent.js')) && existsSync(join(datastore, 'agent.ts'));
  const fromSource = typescriptOnly || process.env.STEWARD_AGENT_FROM_SOURCE === '1' || !existsSync(AGENT_BUILT);
  if (fromSource && isBundled()) throw new Error(`the agent for datastore ${datastore} needs the TypeScript sources, which a build does not carry`);
  return fromSource ? ['--import', import.meta.resolve('tsx'), AGENT_SOURCE, '--config', configPath] : [AGENT_BUILT, '--config', configPath];
}

export class LocalProvisioner implements Provisioner {
  private timer?: NodeJS.Timeout;
  private readonly destroying = new Set<string>();
  private readonly reserved = new Set<string>();
  private readonly down = new Set<string>();
  private readonly restarts = new Map<string, { count: number; nextAt: number }>();

  constructor(
    private readonly store: Store,
    private readonly opts: LocalProvisionerOptions,
    private readonly log: Logger,
  ) {}

  stateDirOf(instanceId: string): string {
    return join(this.opts.dataDir, 'instances', instanceId);
  }

  async provision(req: ProvisionRequest): Promise<Placement> {
    const stateDir = this.stateDirOf(req.instanceId);
    mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    // Datastore service users must traverse down to their data directory.
    for (const d of [this.opts.dataDir, join(this.opts.dataDir, 'instances'), stateDir]) chmodSync(d, 0o755);
    // Each instance gets its own loopback address, like a VM gets its own IP:
    // clustered datastores need the same ports on every member.
    const host = await this.allocateHost();
    // The datastore's usual port when it is free on this address: members of a
    // cluster then share it, as drivers that discover peers expect.
    const port = await freeLoopbackPort(host, req.defaultPort);
    const config = {
      instanceId: req.instanceId,
      datastore: req.datastore,
      controller: { address: this.opts.controllerAddress, enrollAddress: this.opts.enrollAddress, caFile: this.opts.caFile },
      enrollment: { token: req.enrollmentToken },
      insecure: this.opts.insecure,
      stateDir,
      serviceControl: 'process',
      bindAddress: host,
      port,
      memoryMb: req.memoryMb,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      logLevel: this.opts.logLevel,
    };
    writeFileSync(join(stateDir, 'agent.yaml'), stringify(config), { mode: 0o600 });
    // The data directory is the volume's mount point: it exists before the agent does.
    if (req.volumeSizeMb) await createVolume(stateDir, req.volumeSizeMb);
    const pid = this.spawnAgent(stateDir);
    await this.store.insertInto('local_agents').values({ instance_id: req.instanceId, state_dir: stateDir, pid, health_port: 0 }).execute();
    return { host, port };
  }

  private async allocateHost(): Promise<string> {
    const rows = await this.store.selectFrom('instances').select('host').where('deleted_at', 'is', null).execute();
    const used = new Set([...rows.map((r) => r.host), ...this.reserved]);
    for (let n = 1 + this.opts.loopbackOffset; n < 254 * 254; n++) {
      const host = `127.0.${Math.floor(n / 254)}.${(n % 254) + 1}`;
      if (!used.has(host)) {
        // Held until the instance row carries it (creations may interleave).
        this.reserved.add(host);
        setTimeout(() => this.reserved.delete(host), 60_000).unref();
        return host;
      }
    }
    throw new Error('no free loopback address left for a local instance');
  }

  async destroy(instanceId: string): Promise<void> {
    this.destroying.add(instanceId);
    try {
      const row = await this.store.selectFrom('local_agents').selectAll().where('instance_id', '=', instanceId).executeTakeFirst();
      const stateDir = row?.state_dir ?? this.stateDirOf(instanceId);
      if (row?.pid && isAlive(row.pid)) await terminate([row.pid], 15_000);
      // Whatever the agent started and left behind (it may have been killed -9).
      await terminate(pidsMentioning(stateDir), 30_000);
      await releaseVolume(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
      await this.store.deleteFrom('local_agents').where('instance_id', '=', instanceId).execute();
      this.log.info({ instanceId }, 'local instance removed');
    } finally {
      this.destroying.delete(instanceId);
      this.restarts.delete(instanceId);
    }
  }

  volumeUnavailableReason(): Promise<string | undefined> {
    return volumeUnavailableReason();
  }

  async growVolume(instanceId: string, sizeMb: number): Promise<void> {
    await growVolume(this.stateDirOf(instanceId), sizeMb);
  }

  async start(): Promise<void> {
    // Volumes of instances made before a reboot are mounted again before their agents are restarted.
    for (const r of await this.store.selectFrom('local_agents').select('state_dir').execute()) {
      if (existsSync(imageOf(r.state_dir)))
        await attachVolume(r.state_dir).catch((err) => this.log.error({ stateDir: r.state_dir, err: err.message }, 'volume not mounted'));
    }
    this.timer = setInterval(() => void this.supervise().catch((err) => this.log.error({ err: err.message }, 'supervision failed')), 1_000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Marks an instance's machine down (its agent is not restarted when it
   * dies) or up again: maintenance, and tests that lose a machine.
   */
  setDown(instanceId: string, down: boolean): void {
    if (down) this.down.add(instanceId);
    else this.down.delete(instanceId);
  }

  /** The pid of an instance's agent process (tests use it to kill -9 the agent). */
  async agentPid(instanceId: string): Promise<number | undefined> {
    const row = await this.store.selectFrom('local_agents').select('pid').where('instance_id', '=', instanceId).executeTakeFirst();
    return row?.pid;
  }

  private spawnAgent(stateDir: string): number {
    const logFd = openSync(join(stateDir, 'agent.log'), 'a', 0o600);
    try {
      const configPath = join(stateDir, 'agent.yaml');
      const { datastore } = parse(readFileSync(configPath, 'utf8')) as { datastore: string };
      const [command, ...args] = this.opts.agentCommand?.length
        ? [...this.opts.agentCommand, '--config', configPath]
        : [process.execPath, ...agentArgv(datastore, configPath)];
      const child = spawn(command, args, {
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, NOTIFY_SOCKET: '' },
      });
      child.unref();
      return child.pid ?? 0;
    } finally {
      closeSync(logFd);
    }
  }

  private async supervise(): Promise<void> {
    if (!this.opts.restartAgents) return;
    const rows = await this.store.selectFrom('local_agents').selectAll().execute();
    for (const r of rows) {
      if (this.destroying.has(r.instance_id) || this.down.has(r.instance_id) || isAlive(r.pid)) continue;
      const state = this.restarts.get(r.instance_id) ?? { count: 0, nextAt: 0 };
      if (Date.now() < state.nextAt) continue;
      const pid = this.spawnAgent(r.state_dir);
      state.count++;
      state.nextAt = Date.now() + Math.min(30_000, 500 * 2 ** Math.min(state.count, 6));
      this.restarts.set(r.instance_id, state);
      await this.store.updateTable('local_agents').set({ pid }).where('instance_id', '=', r.instance_id).execute();
      this.log.warn({ instanceId: r.instance_id, oldPid: r.pid, pid, restarts: state.count }, 'agent process was gone: restarted');
    }
  }
}
