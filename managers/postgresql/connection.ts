// Connections from the agent to its server: always as the admin role over the
// unix socket in runDir (pg_hba.conf refuses that role over TCP). Sessions are
// opened per operation and closed by it; nothing is pooled, so a restarted or
// stopped server never leaves the agent holding dead connections.
import { Client, DatabaseError, type QueryConfig } from 'pg';
import { StewardError, unavailable } from '../sdk/errors.js';
import { knownError } from '../sdk/driver-errors.js';
import { redactText } from '../sdk/redact.js';
import { MAINTENANCE_DB } from './paths.js';

export type Session = Client;

export interface SessionOptions {
  /** A socket directory (absolute path) or a TCP host. */
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
  connectTimeoutMs?: number;
}

/**
 * Runs `fn` on a fresh admin session to `database` (the maintenance database
 * when omitted), closed afterwards. Bound to one operation's signal.
 */
export type Sessions = <T>(fn: (s: Session) => Promise<T>, database?: string) => Promise<T>;

/** SQLSTATEs with a meaning for the caller; anything else is INTERNAL. */
const CODES: Record<string, StewardError['code']> = {
  '28P01': 'PERMISSION_DENIED', // invalid_password
  '28000': 'PERMISSION_DENIED', // invalid_authorization_specification (no pg_hba.conf line)
  '42501': 'PERMISSION_DENIED', // insufficient_privilege
  '57P03': 'UNAVAILABLE', // cannot_connect_now: starting up, shutting down, recovering
  '57P01': 'UNAVAILABLE', // admin_shutdown
  '57P02': 'UNAVAILABLE', // crash_shutdown
  '53300': 'UNAVAILABLE', // too_many_connections
  '57014': 'CANCELLED', // query_canceled
  '55006': 'FAILED_PRECONDITION', // object_in_use
  '2BP01': 'FAILED_PRECONDITION', // dependent_objects_still_exist
  '42710': 'ALREADY_EXISTS', // duplicate_object
  '42P04': 'ALREADY_EXISTS', // duplicate_database
  '42704': 'NOT_FOUND', // undefined_object
  '3D000': 'NOT_FOUND', // invalid_catalog_name: no such database
};

/** Node error codes meaning "nobody is answering", as opposed to a failed statement. */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A StewardError from a driver error: message and detail only, never the statement. */
export function sqlError(err: unknown): StewardError {
  const known = knownError(err);
  if (known) return known;
  const e = err as { code?: string; message?: string; detail?: string };
  const message = redactText(e?.message ?? String(err));
  if (err instanceof DatabaseError) {
    const detail = err.detail ? ` (${redactText(err.detail)})` : '';
    return new StewardError(CODES[err.code ?? ''] ?? 'INTERNAL', `PostgreSQL: ${message}${detail}`);
  }
  // The driver's own connection failures carry no SQLSTATE.
  if ((e?.code && UNREACHABLE.has(e.code)) || /^Connection terminated|timeout expired/i.test(message)) {
    return unavailable(`PostgreSQL server is not reachable: ${message}`);
  }
  return new StewardError('INTERNAL', `PostgreSQL: ${message}`);
}

/** Runs `fn` on a fresh connection, closed afterwards; aborting `signal` cuts the connection mid-query. */
export async function withSession<T>(opts: SessionOptions, fn: (s: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const client = new Client({
    host: opts.host,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    database: opts.database ?? MAINTENANCE_DB,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: 'steward-agent',
  });
  // A server that goes away while the session is idle emits 'error' on the client; unhandled, it would end the agent.
  client.on('error', () => undefined);
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    // end() would wait for the running statement; destroying the socket does not.
    client.connection.stream.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    signal?.throwIfAborted();
    return await fn(client);
  } catch (err) {
    if (signal?.aborted) throw sqlError(signal.reason ?? err);
    throw sqlError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!aborted) await client.end().catch(() => client.connection.stream.destroy());
  }
}

/**
 * Always the extended protocol, even without parameters: it carries exactly
 * one statement, so a smuggled ";" can never start a second one (the simple
 * protocol, which the driver uses for parameterless queries, would run both).
 */
function statement(sql: string, params: unknown[]): QueryConfig {
  return { text: sql, values: params, queryMode: 'extended' } as QueryConfig;
}

/** Rows of a query; `$n` placeholders only. */
export async function select<T extends object>(s: Session, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await s.query(statement(sql, params))).rows as T[];
}

/** A statement whose result does not matter; `$n` placeholders only. */
export async function exec(s: Session, sql: string, params: unknown[] = []): Promise<void> {
  await s.query(statement(sql, params));
}

/** Runs `fn` in a transaction: committed when it returns, rolled back when it throws. */
export async function transaction<T>(s: Session, fn: () => Promise<T>): Promise<T> {
  await exec(s, 'BEGIN');
  try {
    const out = await fn();
    await exec(s, 'COMMIT');
    return out;
  } catch (err) {
    await exec(s, 'ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Sessions with the options `opts` resolves to (read per session: a password may change between two). */
export function sessionsWith(opts: () => Promise<SessionOptions>, signal: AbortSignal): Sessions {
  return async (fn, database) => withSession({ ...(await opts()), ...(database ? { database } : {}) }, fn, signal);
}

/** What the user, database and root operations get from the manager: admin sessions bound to one operation. */
export type OpenSessions = (signal: AbortSignal) => Sessions;
