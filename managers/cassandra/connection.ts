// CQL sessions from the agent to its own node. A session is opened per
// operation and talks to this node only (an allow-list load-balancing policy):
// the driver would otherwise discover the ring and spread the agent's
// statements over other members, whose state is their own agents' business.
import { Client, errors, policies, types } from 'cassandra-driver';
import { StewardError, failedPrecondition, unavailable } from '../sdk/errors.js';
import { redactText } from '../sdk/redact.js';

export interface Credentials {
  user: string;
  password: string;
}

export interface Endpoint {
  address: string;
  port: number;
}

export interface SessionOptions extends Endpoint {
  credentials: Credentials;
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
}

/** The protocol's error codes this manager tells apart (native protocol spec, section 9). */
const CODE = {
  unavailable: 0x1000,
  overloaded: 0x1001,
  bootstrapping: 0x1002,
  writeTimeout: 0x1100,
  readTimeout: 0x1200,
  badCredentials: 0x0100,
  unauthorized: 0x2100,
  alreadyExists: 0x2400,
} as const;

/** A StewardError from a driver error, keeping only its (redacted) message. */
export function cqlError(err: unknown): StewardError {
  if (err instanceof StewardError) return err;
  const e = err as Error & { code?: number; innerErrors?: Record<string, unknown> };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
    return new StewardError(e.name === 'TimeoutError' ? 'DEADLINE_EXCEEDED' : 'CANCELLED', e.message ?? 'aborted');
  }
  const message = redactText(e?.message ?? String(err));
  if (err instanceof errors.NoHostAvailableError) {
    const inner = Object.values(e.innerErrors ?? {});
    if (inner.some((i) => i instanceof errors.AuthenticationError)) {
      return new StewardError('PERMISSION_DENIED', `Cassandra refused the credentials: ${message}`);
    }
    return unavailable(`Cassandra is not reachable: ${message}`);
  }
  if (err instanceof errors.AuthenticationError) return new StewardError('PERMISSION_DENIED', `Cassandra: ${message}`);
  if (err instanceof errors.OperationTimedOutError) return unavailable(`Cassandra did not answer in time: ${message}`);
  if (err instanceof errors.ResponseError) {
    // Cassandra 5 refuses a second password change of one role within a few seconds.
    if (/can only be changed every/.test(message)) return failedPrecondition(`Cassandra: ${message}; try again shortly`);
    switch (e.code) {
      case CODE.badCredentials:
      case CODE.unauthorized:
        return new StewardError('PERMISSION_DENIED', `Cassandra: ${message}`);
      case CODE.alreadyExists:
        return new StewardError('ALREADY_EXISTS', `Cassandra: ${message}`);
      case CODE.unavailable:
      case CODE.overloaded:
      case CODE.bootstrapping:
      case CODE.writeTimeout:
      case CODE.readTimeout:
        return unavailable(`Cassandra: ${message}`);
    }
  }
  return new StewardError('INTERNAL', `Cassandra: ${message}`);
}

export type Row = types.Row;

/** Reads of system_auth: a role written through this node must be seen whichever replica answers. */
export const AUTH_READ = types.consistencies.localQuorum;

export class Session {
  constructor(private readonly client: Client) {}

  /** Rows of a statement; parameters are bound (the statement is prepared). */
  async rows(cql: string, params: unknown[] = [], consistency?: types.consistencies): Promise<Row[]> {
    const rs = await this.client.execute(cql, params, { prepare: params.length > 0, consistency });
    return rs.rows;
  }

  /**
   * A statement without a result. Role and schema statements take no bind
   * markers, so they arrive here without parameters and are not prepared:
   * one carrying a password literal must not sit in the server's
   * prepared-statement cache.
   */
  async exec(cql: string, params: unknown[] = []): Promise<void> {
    await this.client.execute(cql, params, { prepare: params.length > 0 });
  }
}

function client(opts: SessionOptions): Client {
  const endpoint = `${opts.address}:${opts.port}`;
  return new Client({
    contactPoints: [endpoint],
    credentials: { username: opts.credentials.user, password: opts.credentials.password },
    // Only this node, whatever the ring looks like; no schema metadata either (nothing here uses it).
    policies: { loadBalancing: new policies.loadBalancing.AllowListPolicy(new policies.loadBalancing.RoundRobinPolicy(), [endpoint]) },
    isMetadataSyncEnabled: false,
    pooling: { warmup: false, coreConnectionsPerHost: { [types.distance.local]: 1, [types.distance.remote]: 0 } },
    socketOptions: { connectTimeout: opts.connectTimeoutMs ?? 10_000, readTimeout: opts.readTimeoutMs ?? 120_000 },
    protocolOptions: { maxSchemaAgreementWaitSeconds: 30 },
  });
}

/** Runs `fn` on a fresh session, shut down afterwards; aborting `signal` tears the session down mid-statement. */
export async function withSession<T>(opts: SessionOptions, fn: (s: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const c = client(opts);
  const onAbort = () => void c.shutdown().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await c.connect();
    signal?.throwIfAborted();
    return await fn(new Session(c));
  } catch (err) {
    if (signal?.aborted) throw cqlError(signal.reason ?? err);
    throw cqlError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await c.shutdown().catch(() => undefined);
  }
}

/** Runs `fn` on an admin session, honouring the operation's signal (provided by the manager). */
export type SessionRunner = <T>(fn: (s: Session) => Promise<T>, signal: AbortSignal) => Promise<T>;
