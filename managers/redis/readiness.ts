// Waiting for a (re)started server to answer: bounded, cancellable, and quick
// to give up when the process has already died. A server loading its AOF or
// snapshot answers LOADING; that is waited out however long a big dataset takes
// (each LOADING answer renews the timeout), bounded only by the operation's deadline.
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError } from '../sdk/errors.js';
import { redactText } from '../sdk/redact.js';
import type { ServiceControl, ServiceSpec } from '../sdk/service-control.js';
import { pingError, withSession, type SessionOptions } from './connection.js';

export const READY_TIMEOUT_MS = 180_000;
const RETRY_MS = 200;

/** The last lines of a log file: the reason a start failed is almost always there. */
export async function logTail(path: string, lines = 8): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const length = Math.min(size, 8192);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      return redactText(buf.toString('utf8').trim().split('\n').slice(-lines).join('\n'));
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

export interface ReadyDeps {
  service: ServiceControl;
  spec: ServiceSpec;
  /** The server's log, then its console (config errors are printed before the log file is opened). */
  logs: string[];
}

export async function waitUntilReady(
  opts: SessionOptions,
  deps: ReadyDeps,
  signal: AbortSignal,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  let deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal.throwIfAborted();
    try {
      const refused = await withSession({ ...opts, connectTimeoutMs: 5_000 }, pingError, signal);
      // Anything but LOADING comes from a server that is up, if unhappy (MISCONF, say): the probe reports the rest.
      if (!refused?.startsWith('LOADING')) return;
      last = refused;
      deadline = Date.now() + timeoutMs;
    } catch (err) {
      // Refused credentials come from a server that is up: waiting will not help.
      if (signal.aborted || (err as StewardError).code === 'PERMISSION_DENIED') throw err;
      last = (err as Error).message;
    }
    const state = await deps.service.state(deps.spec);
    if (state !== 'running') {
      const tails = (await Promise.all(deps.logs.map((l) => logTail(l)))).filter(Boolean).join('\n');
      throw new StewardError('INTERNAL', `Redis server ${state === 'crashed' ? 'exited' : 'is not running'} while starting${tails ? `:\n${tails}` : ''}`);
    }
    if (Date.now() >= deadline) {
      throw new StewardError('DEADLINE_EXCEEDED', `Redis server did not answer within ${timeoutMs / 1000}s (${last})`);
    }
    await sleep(RETRY_MS, undefined, { signal });
  }
}
