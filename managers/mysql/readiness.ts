// When a (re)started MySQL server is ready: it accepts a session and answers a
// query. Why it died instead is in its error log.
import { logTail } from '../sdk/log-tail.js';
import { untilReady, type ReadyTarget } from '../sdk/readiness.js';
import { select, withSession, type SessionOptions } from './connection.js';

export interface ReadyDeps extends ReadyTarget {
  errorLog: string;
}

export async function waitUntilReady(opts: SessionOptions, deps: ReadyDeps, signal: AbortSignal, timeoutMs?: number): Promise<void> {
  const check = {
    server: 'MySQL server',
    readyMeans: 'accept connections',
    retryMs: 300,
    attempt: async (attemptSignal: AbortSignal) => {
      await withSession({ ...opts, connectTimeoutMs: 5_000 }, (s) => select(s, 'SELECT 1'), attemptSignal);
    },
    logTail: () => logTail(deps.errorLog),
  };
  await untilReady(deps, check, signal, timeoutMs);
}
