// The `process` service backend: the agent spawns the datastore server itself
// and supervises it. Used by tests, local demos and containers.
//
// The server runs in its own session/process group (detached) and writes to a
// log file rather than a pipe, so it outlives the agent: a restarted agent finds
// it again through the pid file and adopts it instead of starting a second one.
// The pid file is also the memory of intent across agent restarts: stop()
// removes it, so a pid file naming a dead process means the server died on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError, internal } from './errors.js';
import { writeFileAtomic } from './config-file.js';
import type { Logger } from './logger.js';
import { isRoot, lookupOsUser } from './os-user.js';
import type { CrashPolicy, ServiceControl, ServiceSpec, ServiceState } from './service-control.js';

export interface SupervisionOptions extends CrashPolicy {
  /** Unexpected exits restarted within `restartWindowMs` before giving up (stays 'crashed'). */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** First restart delay; doubled for each recent restart. */
  backoffMs?: number;
  /** How often an adopted server (not our child, so no exit event) is checked. */
  pollMs?: number;
}

const DEFAULT_STOP_TIMEOUT_MS = 60_000;
const KILL_WAIT_MS = 10_000;

interface Entry {
  spec: ServiceSpec;
  pid?: number;
  child?: ChildProcess;
  poll?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  /** stop() was asked: an exit is expected. */
  stopping: boolean;
  /** The process the last stop() signalled. */
  stoppingPid?: number;
  /** Died without being asked; cleared by a successful (re)start. */
  crashed: boolean;
  /** When supervised restarts happened, for the restart budget. */
  restarts: number[];
  /** Serialises start/stop/supervised restarts of one service. */
  queue: Promise<void>;
}

export class ProcessServiceControl implements ServiceControl {
  readonly kind = 'process' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly maxRestarts: number;
  private readonly restartWindowMs: number;
  private readonly backoffMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly log: Logger,
    private readonly opts: SupervisionOptions = {},
  ) {
    this.maxRestarts = opts.maxRestarts ?? 3;
    this.restartWindowMs = opts.restartWindowMs ?? 10 * 60_000;
    this.backoffMs = opts.backoffMs ?? 1_000;
    this.pollMs = opts.pollMs ?? 1_000;
  }

  async start(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const entry = this.entry(spec);
    await this.exclusive(entry, async () => {
      signal?.throwIfAborted();
      this.clearRestart(entry);
      entry.stopping = false;
      entry.restarts = []; // an explicit start renews the restart budget
      if (entry.pid !== undefined && isAlive(entry.pid)) return;
      const existing = findLive(spec);
      if (existing !== undefined) {
        this.log.info({ service: spec.name, pid: existing }, 'adopting running server from its pid file');
        this.watchAdopted(entry, existing);
        entry.crashed = false;
        return;
      }
      await this.launch(entry);
    });
  }

  async stop(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const entry = this.entry(spec);
    await this.exclusive(entry, async () => {
      entry.stopping = true;
      entry.crashed = false;
      entry.restarts = [];
      this.clearRestart(entry);
      const pid = entry.pid !== undefined && isAlive(entry.pid) ? entry.pid : findLive(spec);
      if (pid !== undefined) {
        this.log.info({ service: spec.name, pid }, 'stopping server');
        entry.stoppingPid = pid;
        signalPid(pid, spec.stopSignal ?? 'SIGTERM');
        const timeout = spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
        if (!(await waitDead(pid, timeout, signal))) {
          this.log.warn({ service: spec.name, pid, timeoutMs: timeout }, 'server ignored stop signal; killing its process group');
          signalPid(-pid, 'SIGKILL');
          signalPid(pid, 'SIGKILL');
          if (!(await waitDead(pid, KILL_WAIT_MS, signal))) throw internal(`${spec.name} (pid ${pid}) survived SIGKILL`);
        }
      }
      this.untrack(entry);
      await rm(spec.pidFile, { force: true });
    });
  }

  async kill(spec: ServiceSpec): Promise<void> {
    await this.stop({ ...spec, stopSignal: 'SIGKILL', stopTimeoutMs: KILL_WAIT_MS });
  }

  async restart(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    await this.stop(spec, signal);
    await this.start(spec, signal);
  }

  async state(spec: ServiceSpec): Promise<ServiceState> {
    if ((await this.pid(spec)) !== undefined) return 'running';
    // stop() removes the pid file and nothing else does: one naming a dead
    // process means the server died without being asked, whoever watched it
    // (unless it is the one a cancelled stop() was waiting for).
    const filed = readPidFile(spec.pidFile);
    if (filed === undefined || filed === this.entries.get(spec.pidFile)?.stoppingPid) return 'stopped';
    return 'crashed';
  }

  async pid(spec: ServiceSpec): Promise<number | undefined> {
    const entry = this.entries.get(spec.pidFile);
    if (entry?.pid !== undefined && isAlive(entry.pid)) return entry.pid;
    return findLive(spec);
  }

  /** Stops watching every service without touching the servers (agent shutdown). */
  close(): void {
    for (const entry of this.entries.values()) {
      this.clearRestart(entry);
      this.untrack(entry);
    }
    this.entries.clear();
  }

  private entry(spec: ServiceSpec): Entry {
    // Keyed by pid file: unique per instance even when several share a service name.
    let entry = this.entries.get(spec.pidFile);
    if (!entry) {
      entry = { spec, stopping: false, crashed: false, restarts: [], queue: Promise.resolve() };
      this.entries.set(spec.pidFile, entry);
    }
    entry.spec = spec;
    return entry;
  }

  private async exclusive(entry: Entry, fn: () => Promise<void>): Promise<void> {
    const previous = entry.queue;
    let release!: () => void;
    entry.queue = new Promise((resolve) => (release = resolve));
    await previous;
    try {
      await fn();
    } finally {
      release();
    }
  }

  private async launch(entry: Entry): Promise<void> {
    const { spec } = entry;
    await mkdir(dirname(spec.logFile), { recursive: true });
    await mkdir(dirname(spec.pidFile), { recursive: true });
    const ids = spec.user && isRoot() ? await lookupOsUser(spec.user) : undefined;
    const out = await open(spec.logFile, 'a', 0o640);
    let child: ChildProcess;
    let exited: Promise<void>;
    try {
      child = spawn(spec.command, spec.args, {
        detached: true, // own session and process group: survives the agent, killable as a group
        stdio: ['ignore', out.fd, out.fd],
        cwd: spec.cwd ?? '/',
        env: serverEnv(spec.env),
        uid: ids?.uid,
        gid: ids?.gid,
      });
      // Listen at once: a server that fails fast exits before any later await returns.
      exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new StewardError('INTERNAL', `cannot start ${spec.name}: ${err.message}`)));
      });
    } finally {
      await out.close(); // the child holds its own copy of the descriptor
    }
    const pid = child.pid!;
    child.unref();
    await writeFileAtomic(spec.pidFile, `${pid}\n`, { mode: 0o644 });
    entry.pid = pid;
    entry.child = child;
    entry.crashed = false;
    this.log.info({ service: spec.name, pid, user: spec.user }, 'server started');
    // Handled only now that the pid file and the entry are in place.
    void exited.then(() => this.onExit(entry, pid));
  }

  private watchAdopted(entry: Entry, pid: number): void {
    entry.pid = pid;
    entry.child = undefined;
    entry.poll = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(entry.poll);
      entry.poll = undefined;
      this.onExit(entry, pid);
    }, this.pollMs);
    entry.poll.unref();
  }

  private onExit(entry: Entry, pid: number): void {
    if (entry.pid !== pid) return; // an old process; already dealt with
    this.untrack(entry);
    if (entry.stopping) return;
    if (this.takenOver(entry.spec, pid)) {
      this.log.info({ service: entry.spec.name, pid }, 'server was stopped or taken over elsewhere; not restarting');
      return;
    }
    entry.crashed = true;
    this.log.warn({ service: entry.spec.name, pid }, 'server exited unexpectedly');
    this.opts.onCrash?.(entry.spec);
    if (this.opts.restartAllowed?.(entry.spec) === false) {
      this.log.warn({ service: entry.spec.name }, 'not restarting it: the controller handles this crash (failover)');
      return;
    }
    this.scheduleRestart(entry, pid);
  }

  /** Someone else (another agent instance) stopped or replaced the server: don't fight it. */
  private takenOver(spec: ServiceSpec, deadPid: number): boolean {
    const current = readPidFile(spec.pidFile);
    if (current === undefined) return true;
    return current !== deadPid && findLive(spec) === current;
  }

  private scheduleRestart(entry: Entry, deadPid: number): void {
    const now = Date.now();
    entry.restarts = entry.restarts.filter((t) => now - t < this.restartWindowMs);
    if (entry.restarts.length >= this.maxRestarts) {
      this.log.error(
        { service: entry.spec.name, restarts: entry.restarts.length, windowMs: this.restartWindowMs },
        'server keeps crashing; giving up until it is started again',
      );
      return;
    }
    const delay = this.backoffMs * 2 ** entry.restarts.length;
    entry.restartTimer = setTimeout(() => {
      entry.restartTimer = undefined;
      void this.exclusive(entry, async () => {
        if (entry.stopping || !entry.crashed) return;
        if (this.takenOver(entry.spec, deadPid)) {
          entry.crashed = false;
          return;
        }
        entry.restarts.push(Date.now());
        this.log.warn({ service: entry.spec.name, attempt: entry.restarts.length }, 'restarting crashed server');
        try {
          await this.launch(entry);
        } catch (err) {
          this.log.error({ service: entry.spec.name, err: (err as Error).message }, 'restart failed');
          this.scheduleRestart(entry, deadPid);
        }
      });
    }, delay);
    entry.restartTimer.unref();
  }

  private clearRestart(entry: Entry): void {
    if (entry.restartTimer) clearTimeout(entry.restartTimer);
    entry.restartTimer = undefined;
  }

  async forget(spec: ServiceSpec): Promise<void> {
    const entry = this.entries.get(spec.pidFile);
    if (!entry) return;
    this.clearRestart(entry);
    this.untrack(entry);
    this.entries.delete(spec.pidFile);
  }

  private untrack(entry: Entry): void {
    if (entry.poll) clearInterval(entry.poll);
    entry.poll = undefined;
    entry.pid = undefined;
    entry.child = undefined;
  }
}

/** The server gets a minimal environment: the agent's may hold credentials. */
function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const k of ['LANG', 'LC_ALL', 'TZ']) if (process.env[k]) env[k] = process.env[k];
  return { ...env, ...extra };
}

function readPidFile(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a zombie still answers kill 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Whether `pid` runs exactly this spec's command line. Comparing the arguments
 * too keeps a recycled pid, or the same binary serving another instance (another
 * --defaults-file), from being adopted.
 */
export function cmdlineMatches(pid: number, spec: Pick<ServiceSpec, 'command' | 'args'>): boolean {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  if (argv.at(-1) === '') argv.pop();
  const expected = [spec.command, ...spec.args];
  return argv.length === expected.length && argv.every((a, i) => a === expected[i]);
}

function findLive(spec: ServiceSpec): number | undefined {
  const pid = readPidFile(spec.pidFile);
  return pid !== undefined && isAlive(pid) && cmdlineMatches(pid, spec) ? pid : undefined;
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Polls until `pid` is gone; false on timeout. Throws when `signal` aborts. */
async function waitDead(pid: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    signal?.throwIfAborted();
    await sleep(100, undefined, { signal }).catch(() => signal?.throwIfAborted());
  }
  return true;
}
