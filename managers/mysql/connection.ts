// Connections from the agent to its server: always over the unix socket in
// runDir (never TCP, so the admin account is @localhost only). Before the admin
// account exists, the agent connects as OS root, which a fresh data directory
// lets in through unix_socket authentication (MariaDB) or an empty password
// (MySQL's --initialize-insecure).
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { StewardError, unavailable } from '../sdk/errors.js';
import { knownError } from '../sdk/driver-errors.js';
import { redactText } from '../sdk/redact.js';

export type Session = Connection;

export interface SessionOptions {
  socket: string;
  user: string;
  password?: string;
  connectTimeoutMs?: number;
}

/** Error codes meaning "nobody is answering on the socket", as opposed to a failed statement. */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST']);

/** A StewardError from a driver error, keeping only its message (the driver attaches the SQL, with its parameters). */
export function sqlError(err: unknown): StewardError {
  const known = knownError(err);
  if (known) return known;
  const e = err as { code?: string; message?: string };
  const message = redactText(e?.message ?? String(err));
  if (e?.code && UNREACHABLE.has(e.code)) return unavailable(`MySQL server is not reachable: ${message}`);
  if (e?.code?.startsWith('ER_ACCESS_DENIED')) return new StewardError('PERMISSION_DENIED', `MySQL: ${message}`);
  return new StewardError('INTERNAL', `MySQL: ${message}`);
}

async function open(opts: SessionOptions): Promise<Session> {
  const conn = await mysql.createConnection({
    socketPath: opts.socket,
    user: opts.user,
    password: opts.password,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    multipleStatements: false, // one statement per call: a smuggled ";" can never start a second one
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  // The driver escapes string parameters with backslashes; NO_BACKSLASH_ESCAPES
  // (which a configuration group could set) would turn that escaping into an injection.
  await conn.query("SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')");
  return conn;
}

/** Runs `fn` on a fresh connection, closed afterwards; aborting `signal` kills the connection mid-query. */
export async function withSession<T>(opts: SessionOptions, fn: (s: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  let conn: Session | undefined;
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    conn?.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    conn = await open(opts);
    if (aborted) conn.destroy();
    signal?.throwIfAborted();
    return await fn(conn);
  } catch (err) {
    if (signal?.aborted) throw sqlError(signal.reason ?? err);
    throw sqlError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (conn && !aborted) await conn.end().catch(() => conn?.destroy());
  }
}

/** Rows of a SELECT; `?` placeholders only. */
export async function select<T extends object>(s: Session, sql: string, params: unknown[] = []): Promise<T[]> {
  const [rows] = await s.query<RowDataPacket[]>(sql, params);
  return rows as unknown as T[];
}

/** A statement without a result set; `?` placeholders only. */
export async function exec(s: Session, sql: string, params: unknown[] = []): Promise<void> {
  await s.query(sql, params);
}

/** Runs `fn` on an admin session, honouring the operation's signal (provided by the manager). */
export type SessionRunner = <T>(fn: (s: Session) => Promise<T>, signal: AbortSignal) => Promise<T>;
