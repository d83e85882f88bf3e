// Connections from the agent to its server: always over the unix socket in
// runDir, as steward_admin, one per operation (and, on a replica, to its
// source over TCP to copy its users: replication-users.ts). Commands go as argument arrays
// (one argument per protocol string), so no value is ever parsed as a command.
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  createClient,
} from 'redis';
import { StewardError, unavailable } from '../sdk/errors.js';
import { knownError } from '../sdk/driver-errors.js';
import { redactText } from '../sdk/redact.js';

export interface SessionOptions {
  socket: string;
  user: string;
  password: string;
  connectTimeoutMs?: number;
}

/** Another instance's server (a replica's source), over TCP. */
export interface RemoteSessionOptions extends Omit<SessionOptions, 'socket'> {
  host: string;
  port: number;
}

/** One command and its raw reply (RESP2: strings, integers, arrays, null). */
export interface Session {
  call(...args: string[]): Promise<unknown>;
}

/** Runs `fn` on an admin session, honouring the operation's signal (provided by the manager). */
export type SessionRunner = <T>(fn: (s: Session) => Promise<T>, signal: AbortSignal) => Promise<T>;

/** Node error codes and client errors meaning "nobody is answering on the socket". */
const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES']);
const UNREACHABLE_ERRORS = [
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  ClientClosedError,
  ClientOfflineError,
  DisconnectsClientError,
  ReconnectStrategyError,
];

/** The first word of a Redis error reply ("WRONGPASS", "NOPERM", "LOADING", "ERR", ...). */
export function replyCode(err: unknown): string | undefined {
  return err instanceof ErrorReply ? err.message.split(' ')[0] : undefined;
}

/** A StewardError from a client or server error. */
export function redisError(err: unknown): StewardError {
  const known = knownError(err);
  if (known) return known;
  const e = err as { code?: string; message?: string };
  const message = redactText(e?.message ?? String(err));
  if ((e?.code && UNREACHABLE_CODES.has(e.code)) || UNREACHABLE_ERRORS.some((type) => err instanceof type)) {
    return unavailable(`Redis server is not reachable: ${message}`);
  }
  const code = replyCode(err);
  if (code === 'WRONGPASS' || code === 'NOAUTH' || code === 'NOPERM') return new StewardError('PERMISSION_DENIED', `Redis: ${message}`);
  if (code === 'LOADING' || code === 'BUSY' || code === 'MASTERDOWN') return unavailable(`Redis: ${message}`);
  return new StewardError('INTERNAL', `Redis: ${message}`);
}

/** Runs `fn` on a fresh connection, closed afterwards; aborting `signal` drops the connection mid-command. */
export async function withSession<T>(opts: SessionOptions | RemoteSessionOptions, fn: (s: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const client = createClient({
    socket: {
      ...('socket' in opts ? { path: opts.socket } : { host: opts.host, port: opts.port }),
      tls: false,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      reconnectStrategy: false,
    },
    username: opts.user,
    password: opts.password,
    // RESP2 replies are plain arrays and strings whatever the client's type mapping defaults are.
    RESP: 2,
    disableClientInfo: true,
    disableOfflineQueue: true,
  });
  // Failures surface through the rejected calls; the event only needs a listener so it does not crash the agent.
  client.on('error', () => undefined);
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    client.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    signal?.throwIfAborted();
    return await fn({ call: (...args) => client.sendCommand(args) });
  } catch (err) {
    if (signal?.aborted) throw redisError(signal.reason ?? err);
    throw redisError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!aborted && client.isOpen) await client.close().catch(() => client.destroy());
  }
}

/** `INFO <section>` as key/value pairs. */
export function parseInfo(text: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of String(text ?? '').split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * PING, with the server's refusal as a value rather than an exception: a master
 * that cannot persist refuses PING (MISCONF) so that health checks notice, and
 * one loading its data answers LOADING; both are still a server that answers.
 */
export async function pingError(s: Session): Promise<string | undefined> {
  try {
    await s.call('PING');
    return undefined;
  } catch (err) {
    if (replyCode(err) === undefined) throw err;
    return redactText((err as Error).message);
  }
}

export async function info(s: Session, section: string): Promise<Record<string, string>> {
  return parseInfo(await s.call('INFO', section));
}
