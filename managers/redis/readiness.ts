// When a (re)started Redis server is ready: it answers PING. A server loading
// its AOF or snapshot answers LOADING; that is waited out however long a big
// dataset takes (each LOADING answer renews the timeout), bounded only by the
// operation's deadline.
import { logTails } from '../sdk/log-tail.js';
import { untilReady, type ReadyTarget } from '../sdk/readiness.js';
import { pingError, withSession, type SessionOptions } from './connection.js';

export interface ReadyDeps extends ReadyTarget {
  /** The server's log, then its console (config errors are printed before the log file is opened). */
  logs: string[];
}

export async function waitUntilReady(opts: SessionOptions, deps: ReadyDeps, signal: AbortSignal, timeoutMs?: number): Promise<void> {
  const check = {
    server: 'Redis server',
    readyMeans: 'answer',
    retryMs: 200,
    attempt: async (attemptSignal: AbortSignal) => {
      const refused = await withSession({ ...opts, connectTimeoutMs: 5_000 }, pingError, attemptSignal);
      // Anything but LOADING comes from a server that is up, if unhappy (MISCONF, say): the probe reports the rest.
      return refused?.startsWith('LOADING') ? refused : undefined;
    },
    logTail: () => logTails(deps.logs),
  };
  await untilReady(deps, check, signal, timeoutMs);
}
