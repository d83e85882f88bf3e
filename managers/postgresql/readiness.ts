// Waiting for a (re)started server to accept connections: bounded, cancellable,
// and quick to give up when the process has already died.
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StewardError } from '../sdk/errors.js';
import { redactText } from '../sdk/redact.js';
import type { ServiceControl, ServiceSpec } from '../sdk/service-control.js';
import { select, withSession, type SessionOptions } from './connection.js';
import type { PgPaths } from './paths.js';

export const READY_TIMEOUT_MS = 180_000;
const RETRY_MS = 250;

async function tailOf(path: string, lines: number): Promise<string> {
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

/**
 * The last lines the server logged. Why a start failed is in the console log
 * when it failed before the logging collector ran (bad setting, port taken),
 * in the collector's newest file otherwise (recovery): whichever changed last.
 */
export async function logTail(paths: Pick<PgPaths, 'consoleLog' | 'serverLogDir'>, lines = 8): Promise<string> {
  const candidates = [paths.consoleLog];
  for (const name of await readdir(paths.serverLogDir).catch(() => [] as string[])) candidates.push(join(paths.serverLogDir, name));
  let newest: { path: string; mtime: number } | undefined;
  for (const path of candidates) {
    const mtime = await stat(path).then(
      (st) => st.mtimeMs,
      () => -1,
    );
    if (mtime >= 0 && (!newest || mtime > newest.mtime)) newest = { path, mtime };
  }
  return newest ? tailOf(newest.path, lines) : '';
}

export interface ReadyDeps {
  service: ServiceControl;
  spec: ServiceSpec;
  paths: Pick<PgPaths, 'consoleLog' | 'serverLogDir'>;
}

export async function waitUntilReady(opts: SessionOptions, deps: ReadyDeps, signal: AbortSignal, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
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
      const tail = await logTail(deps.paths);
      throw new StewardError('INTERNAL', `PostgreSQL server ${state === 'crashed' ? 'exited' : 'is not running'} while starting${tail ? `:\n${tail}` : ''}`);
    }
    if (Date.now() >= deadline) {
      throw new StewardError('DEADLINE_EXCEEDED', `PostgreSQL server did not accept connections within ${timeoutMs / 1000}s (${last})`);
    }
    await sleep(RETRY_MS, undefined, { signal });
  }
}
