// Waiting for a (re)started server to accept connections: bounded, cancellable,
// and quick to give up when the process has already died.
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError } from '../sdk/errors.js';
import { redactText } from '../sdk/redact.js';
import type { ServiceControl, ServiceSpec } from '../sdk/service-control.js';
import { select, withSession, type SessionOptions } from './connection.js';

export const READY_TIMEOUT_MS = 180_000;
const RETRY_MS = 300;

/** The last lines of the server's error log: the reason a start failed is almost always there. */
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
  errorLog: string;
}

export async function waitUntilReady(
  opts: SessionOptions,
  deps: ReadyDeps,
  signal: AbortSignal,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal.throwIfAborted();
    try {
      await withSession({ ...opts, connectTimeoutMs: 5_000 }, (s) => select(s, 'SELECT 1'), signal);
      return;
    } catch (err) {
      // Refused credentials come from a server that is up: waiting will not help.
      if (signal.aborted || (err as StewardError).code === 'PERMISSION_DENIED') throw err;
      last = (err as Error).message;
    }
    const state = await deps.service.state(deps.spec);
    if (state !== 'running') {
      const tail = await logTail(deps.errorLog);
      throw new StewardError('INTERNAL', `MySQL server ${state === 'crashed' ? 'exited' : 'is not running'} while starting${tail ? `:\n${tail}` : ''}`);
    }
    if (Date.now() >= deadline) {
      throw new StewardError('DEADLINE_EXCEEDED', `MySQL server did not accept connections within ${timeoutMs / 1000}s (${last})`);
    }
    await sleep(RETRY_MS, undefined, { signal });
  }
}
