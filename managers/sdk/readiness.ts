// Waiting for a (re)started server to answer: bounded, cancellable, and quick
// to give up when the process has already died, with the tail of its logs in
// the error (a dead server will never answer; the log says why).
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError } from './errors.js';
import type { ServiceControl, ServiceSpec } from './service-control.js';

export const READY_TIMEOUT_MS = 180_000;

/** The server being waited for, as the service backend knows it. */
export interface ReadyTarget {
  service: ServiceControl;
  spec: ServiceSpec;
}

/** What "ready" means for one datastore. */
export interface ReadyCheck {
  /** How messages name the server ("MySQL server"). */
  server: string;
  /** What the server does once ready, for the timeout message ("accept connections"). */
  readyMeans: string;
  retryMs: number;
  /**
   * One try at reaching the server. Resolves to nothing once it is ready, or to
   * why it is not yet although it answers (loading its data, say): that is
   * progress, so it renews the timeout. Rejects when the server cannot be reached.
   */
  attempt(signal: AbortSignal): Promise<string | void>;
  /** What the server logged last, for the error when it died while starting. */
  logTail(): Promise<string>;
}

export async function untilReady(target: ReadyTarget, check: ReadyCheck, signal: AbortSignal, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  let deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal.throwIfAborted();
    try {
      const busy = await check.attempt(signal);
      if (!busy) return;
      last = busy;
      deadline = Date.now() + timeoutMs;
    } catch (err) {
      // Refused credentials come from a server that is up: waiting will not help.
      if (signal.aborted || (err as StewardError).code === 'PERMISSION_DENIED') throw err;
      last = (err as Error).message;
    }
    const state = await target.service.state(target.spec);
    if (state !== 'running') {
      const tail = await check.logTail();
      throw new StewardError('INTERNAL', `${check.server} ${state === 'crashed' ? 'exited' : 'is not running'} while starting${tail ? `:\n${tail}` : ''}`);
    }
    if (Date.now() >= deadline) {
      throw new StewardError('DEADLINE_EXCEEDED', `${check.server} did not ${check.readyMeans} within ${timeoutMs / 1000}s (${last})`);
    }
    await sleep(check.retryMs, undefined, { signal });
  }
}
