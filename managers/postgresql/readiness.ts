// When a (re)started PostgreSQL server is ready: it accepts a session and
// answers a query. Why it died instead is in whichever of its logs changed last.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { logTail as tailOf } from '../sdk/log-tail.js';
import { untilReady, type ReadyTarget } from '../sdk/readiness.js';
import { select, withSession, type SessionOptions } from './connection.js';
import type { PgPaths } from './paths.js';

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

export interface ReadyDeps extends ReadyTarget {
  paths: Pick<PgPaths, 'consoleLog' | 'serverLogDir'>;
}

export async function waitUntilReady(opts: SessionOptions, deps: ReadyDeps, signal: AbortSignal, timeoutMs?: number): Promise<void> {
  const check = {
    server: 'PostgreSQL server',
    readyMeans: 'accept connections',
    retryMs: 250,
    attempt: async (attemptSignal: AbortSignal) => {
      await withSession({ ...opts, connectTimeoutMs: 5_000 }, (s) => select(s, 'SELECT 1'), attemptSignal);
    },
    logTail: () => logTail(deps.paths),
  };
  await untilReady(deps, check, signal, timeoutMs);
}
