// Waiting for a (re)started node to answer CQL: bounded, cancellable, and
// quick to give up when the JVM has already died. A JVM start takes tens of
// seconds; a node that bootstraps streams its share of the ring before it
// opens the native port, which can take much longer.
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError } from '../sdk/errors.js';
import { logTails } from '../sdk/log-tail.js';
import type { ServiceControl, ServiceSpec } from '../sdk/service-control.js';
import { withSession, type Credentials, type Endpoint } from './connection.js';

export const READY_TIMEOUT_MS = 10 * 60_000;
/** Bootstrapping streams data: bounded by the operation's deadline rather than by a guess here. */
export const BOOTSTRAP_READY_TIMEOUT_MS = 24 * 60 * 60_000;
const RETRY_MS = 1_000;

export interface ReadyDeps {
  service: ServiceControl;
  spec: ServiceSpec;
  /** Logs whose tails explain a failed start (console output first: JVM errors land there). */
  logs: string[];
}

export interface ReadyOptions {
  /**
   * Keep waiting until these credentials log in. A fresh node creates its
   * default superuser a little after it opens the native port, so refused
   * credentials are not final while starting. Without it, a refusal already
   * shows that the server answers.
   */
  requireLogin: boolean;
  timeoutMs?: number;
}

export async function waitForCql(deps: ReadyDeps, endpoint: Endpoint, credentials: Credentials, signal: AbortSignal, opts: ReadyOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal.throwIfAborted();
    try {
      await withSession(
        { ...endpoint, credentials, connectTimeoutMs: 5_000, readTimeoutMs: 10_000 },
        (s) => s.rows('SELECT release_version FROM system.local'),
        signal,
      );
      return;
    } catch (err) {
      if (signal.aborted) throw err;
      if ((err as StewardError).code === 'PERMISSION_DENIED' && !opts.requireLogin) return;
      last = (err as Error).message;
    }
    const state = await deps.service.state(deps.spec);
    if (state !== 'running') {
      const tails = await logTails(deps.logs);
      throw new StewardError('INTERNAL', `Cassandra ${state === 'crashed' ? 'exited' : 'is not running'} while starting${tails ? `:\n${tails}` : ''}`);
    }
    if (Date.now() >= deadline) {
      throw new StewardError('DEADLINE_EXCEEDED', `Cassandra did not accept CQL logins within ${Math.round(timeoutMs / 1000)}s (${last})`);
    }
    await sleep(RETRY_MS, undefined, { signal });
  }
}
