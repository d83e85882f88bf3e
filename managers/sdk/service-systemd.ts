// The `systemd` backend: each datastore server runs in a unit of its own,
// `steward-datastore@<name>-<instance>.service`, an instance of the template
// the steward-agent package ships (deploy/steward-datastore@.service:
// hardening, no restarts of its own). What differs per instance (the command
// line, the OS user, the environment, the log file, the stop signal and the
// paths it may write) the agent renders from the manager's ServiceSpec into a
// drop-in under /run/systemd/system, rewritten before every start. Debian's own
// mariadb, postgresql and redis-server units are never used: they ignore
// Steward's configuration.
//
// The server is not the agent's child: restarting or upgrading the agent never
// stops it. Supervision is the agent's, as with the process backend: the
// template says Restart=no, and a unit found failed is restarted here with
// backoff, unless the crash policy says the controller handles it (failover).
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from './errors.js';
import { writeFileAtomic } from './config-file.js';
import type { Logger } from './logger.js';
import { run, type Runner } from './runner.js';
import type { CrashPolicy, ServiceControl, ServiceSpec, ServiceState } from './service-control.js';

export interface SystemdOptions extends CrashPolicy {
  /** The agent's instance id: one agent may run several servers, several agents one host. */
  instanceKey: string;
  /** Paths the server may write (the agent's state directory). */
  writablePaths: string[];
  /** Where drop-ins go (default /run/systemd/system: rewritten at each start, gone after a reboot). */
  unitDir?: string;
  runner?: Runner;
  /** How often started units are checked for a crash. */
  pollMs?: number;
  maxRestarts?: number;
  restartWindowMs?: number;
  backoffMs?: number;
}

export const TEMPLATE = 'steward-datastore@';
const SYSTEMCTL_TIMEOUT_MS = 5 * 60_000;
const INSTANCE_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;

interface Watched {
  spec: ServiceSpec;
  stopping: boolean;
  restarts: number[];
  restarting: boolean;
}

export class SystemdServiceControl implements ServiceControl {
  readonly kind = 'systemd' as const;
  private readonly runner: Runner;
  private readonly unitDir: string;
  private readonly watched = new Map<string, Watched>();
  private poll?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly opts: SystemdOptions,
  ) {
    this.runner = opts.runner ?? run;
    this.unitDir = opts.unitDir ?? '/run/systemd/system';
  }

  /** The unit a spec runs in. */
  unit(spec: ServiceSpec): string {
    const part = `${spec.name}-${this.opts.instanceKey}`;
    if (!INSTANCE_PART.test(part)) throw failedPrecondition(`bad systemd unit instance ${JSON.stringify(part)}`);
    return `${TEMPLATE}${part}.service`;
  }

  async start(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    await this.render(spec);
    const w = this.watch(spec);
    w.stopping = false;
    w.restarts = []; // an explicit start renews the restart budget
    await this.systemctl(['start', this.unit(spec)], signal);
  }

  async stop(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    this.watch(spec).stopping = true;
    await this.systemctl(['stop', this.unit(spec)], signal);
    await this.systemctl(['reset-failed', this.unit(spec)]).catch(() => undefined);
  }

  async kill(spec: ServiceSpec): Promise<void> {
    this.watch(spec).stopping = true;
    await this.systemctl(['kill', '--signal=SIGKILL', this.unit(spec)]);
    await this.systemctl(['stop', this.unit(spec)]);
    // Killed on purpose: stopped, not crashed.
    await this.systemctl(['reset-failed', this.unit(spec)]).catch(() => undefined);
  }

  async restart(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    await this.render(spec);
    const w = this.watch(spec);
    w.stopping = false;
    await this.systemctl(['restart', this.unit(spec)], signal);
  }

  async state(spec: ServiceSpec): Promise<ServiceState> {
    // is-active exits non-zero for every state but active; the word is what counts.
    const { stdout } = await this.runner('systemctl', ['is-active', this.unit(spec)], { timeoutMs: 10_000, okCodes: [1, 2, 3, 4] });
    const word = stdout.trim();
    if (word === 'active' || word === 'activating' || word === 'reloading' || word === 'deactivating') return 'running';
    if (word === 'failed') return 'crashed';
    return 'stopped';
  }

  async pid(spec: ServiceSpec): Promise<number | undefined> {
    const { stdout } = await this.runner('systemctl', ['show', '--property=MainPID', '--value', this.unit(spec)], { timeoutMs: 10_000 });
    const pid = Number(stdout.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** Stops watching (agent shutdown): the servers keep running. */
  close(): void {
    clearInterval(this.poll);
    this.poll = undefined;
  }

  /** The drop-in for this instance: written, and systemd told, only when it changed. */
  private async render(spec: ServiceSpec): Promise<void> {
    const dir = join(this.unitDir, `${this.unit(spec)}.d`);
    const file = join(dir, 'steward.conf');
    const text = dropIn(spec, this.opts.writablePaths);
    if ((await readFile(file, 'utf8').catch(() => '')) === text) return;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFileAtomic(file, text, { mode: 0o644 });
    await this.systemctl(['daemon-reload']);
  }

  /** Removes the drop-in of a server that is gone for good (the instance was destroyed). */
  async forget(spec: ServiceSpec): Promise<void> {
    this.watched.delete(this.unit(spec));
    await rm(join(this.unitDir, `${this.unit(spec)}.d`), { recursive: true, force: true });
    await this.systemctl(['daemon-reload']).catch(() => undefined);
  }

  private watch(spec: ServiceSpec): Watched {
    const unit = this.unit(spec);
    let w = this.watched.get(unit);
    if (!w) {
      w = { spec, stopping: false, restarts: [], restarting: false };
      this.watched.set(unit, w);
    }
    w.spec = spec;
    if (!this.poll) {
      this.poll = setInterval(() => void this.check(), this.opts.pollMs ?? 1_000);
      this.poll.unref();
    }
    return w;
  }

  /** A started unit found failed crashed: reported at once, restarted with backoff unless the controller takes over. */
  private async check(): Promise<void> {
    for (const [unit, w] of this.watched) {
      if (w.stopping || w.restarting) continue;
      if ((await this.state(w.spec).catch(() => 'running')) !== 'crashed') continue;
      this.log.warn({ unit }, 'server exited unexpectedly');
      this.opts.onCrash?.(w.spec);
      if (this.opts.restartAllowed?.(w.spec) === false) {
        this.log.warn({ unit }, 'not restarting it: the controller handles this crash (failover)');
        w.stopping = true;
        continue;
      }
      const now = Date.now();
      w.restarts = w.restarts.filter((t) => now - t < (this.opts.restartWindowMs ?? 10 * 60_000));
      if (w.restarts.length >= (this.opts.maxRestarts ?? 3)) {
        this.log.error({ unit, restarts: w.restarts.length }, 'server keeps crashing; giving up until it is started again');
        w.stopping = true;
        continue;
      }
      w.restarting = true;
      const delay = (this.opts.backoffMs ?? 1_000) * 2 ** w.restarts.length;
      w.restarts.push(now);
      setTimeout(() => {
        this.log.warn({ unit, attempt: w.restarts.length }, 'restarting crashed server');
        void this.systemctl(['restart', unit])
          .catch((err) => this.log.error({ unit, err: (err as Error).message }, 'restart failed'))
          .finally(() => {
            w.restarting = false;
          });
      }, delay).unref();
    }
  }

  private async systemctl(args: string[], signal?: AbortSignal): Promise<void> {
    this.log.info({ systemctl: args }, 'systemctl');
    await this.runner('systemctl', args, { signal, timeoutMs: SYSTEMCTL_TIMEOUT_MS });
  }
}

/** One argument of ExecStart=, quoted for systemd (specifiers and variables escaped). */
export function execArg(arg: string): string {
  if (/[\0\n\r]/.test(arg)) throw failedPrecondition('a server argument contains a control character');
  const escaped = arg.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('%', '%%').replaceAll('$', '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? escaped : `"${escaped}"`;
}

/** The per-instance part of a datastore unit. */
export function dropIn(spec: ServiceSpec, writablePaths: string[]): string {
  const lines = [
    '# Written by steward-agent before each start: the server this instance runs.',
    '[Service]',
    'ExecStart=',
    `ExecStart=${[spec.command, ...spec.args].map(execArg).join(' ')}`,
  ];
  if (spec.user) lines.push(`User=${execArg(spec.user)}`, `Group=${execArg(spec.user)}`);
  if (spec.cwd) lines.push(`WorkingDirectory=${execArg(spec.cwd)}`);
  for (const [k, v] of Object.entries(spec.env ?? {})) lines.push(`Environment=${execArg(`${k}=${v}`)}`);
  if (spec.stopSignal) lines.push(`KillSignal=${spec.stopSignal}`);
  lines.push(`TimeoutStopSec=${Math.ceil((spec.stopTimeoutMs ?? 60_000) / 1000)}`);
  lines.push(`StandardOutput=append:${spec.logFile}`, `StandardError=append:${spec.logFile}`);
  for (const p of writablePaths) lines.push(`ReadWritePaths=${execArg(p)}`);
  return `${lines.join('\n')}\n`;
}
