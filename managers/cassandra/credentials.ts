// Which role the agent logs in as. Normally the admin role whose credentials
// sit in the secret store (0600). Before a node's cluster is secured there is
// only Cassandra's default superuser (cassandra/cassandra), so a cluster member
// that has not seen the admin role work yet falls back to it; once the admin
// role has logged in here, the default is never tried again.
import { access as fsAccess, writeFile } from 'node:fs/promises';
import { StewardError } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { SecretStore } from '../sdk/secrets.js';
import { withSession, type Credentials, type Endpoint, type Session } from './connection.js';
import { ADMIN_PASSWORD_SECRET, ADMIN_USER_SECRET, type CassandraPaths } from './paths.js';
import { ADMIN_ROLE, DEFAULT_PASSWORD, DEFAULT_ROLE, checkAdminCredentials } from './validation.js';

export const DEFAULT_CREDENTIALS: Credentials = { user: DEFAULT_ROLE, password: DEFAULT_PASSWORD };

export interface SessionTimeouts {
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
}

export class AdminAccess {
  constructor(
    private readonly secrets: SecretStore,
    private readonly paths: Pick<CassandraPaths, 'securedMarker'>,
  ) {}

  /** The stored admin credentials, if any. */
  async stored(): Promise<Credentials | undefined> {
    const password = await this.secrets.get(ADMIN_PASSWORD_SECRET);
    if (!password) return undefined;
    return { user: (await this.secrets.get(ADMIN_USER_SECRET)) || ADMIN_ROLE, password };
  }

  /** The admin role's name (the default one until a cluster hands over another). */
  async adminName(): Promise<string> {
    return (await this.secrets.get(ADMIN_USER_SECRET)) || ADMIN_ROLE;
  }

  async store(c: Credentials, field = 'admin'): Promise<void> {
    checkAdminCredentials(c.user, c.password, `${field}.user`, `${field}.password`);
    registerSecret(c.password);
    await this.secrets.put(ADMIN_USER_SECRET, c.user);
    await this.secrets.put(ADMIN_PASSWORD_SECRET, c.password);
  }

  /** The stored credentials, or new ones (a generated password, stored before it is used). */
  async storedOrNew(): Promise<Credentials> {
    const existing = await this.stored();
    if (existing) return existing;
    const password = await this.secrets.getOrCreate(ADMIN_PASSWORD_SECRET);
    await this.secrets.put(ADMIN_USER_SECRET, ADMIN_ROLE);
    return { user: ADMIN_ROLE, password };
  }

  async isSecured(): Promise<boolean> {
    return fsAccess(this.paths.securedMarker).then(
      () => true,
      () => false,
    );
  }

  async markSecured(): Promise<void> {
    await writeFile(this.paths.securedMarker, `${new Date().toISOString()}\n`, { mode: 0o644 });
  }

  /** Credentials to try, best first. */
  async candidates(): Promise<Credentials[]> {
    const admin = await this.stored();
    const out = admin ? [admin] : [];
    if (!(await this.isSecured())) out.push(DEFAULT_CREDENTIALS);
    return out;
  }

  /**
   * Runs `fn` on a session as the first candidate that logs in. Only a refused
   * login moves on to the next one: a statement that fails inside `fn` is
   * never retried as someone else.
   */
  async session<T>(endpoint: Endpoint, fn: (s: Session) => Promise<T>, signal: AbortSignal, timeouts: SessionTimeouts = {}): Promise<T> {
    const candidates = await this.candidates();
    let refused: StewardError | undefined;
    for (const credentials of candidates) {
      let started = false;
      try {
        const result = await withSession(
          { ...endpoint, ...timeouts, credentials },
          (s) => {
            started = true;
            return fn(s);
          },
          signal,
        );
        if (credentials.user !== DEFAULT_ROLE && !(await this.isSecured())) await this.markSecured();
        return result;
      } catch (err) {
        if (started || (err as StewardError).code !== 'PERMISSION_DENIED') throw err;
        refused = err as StewardError;
      }
    }
    throw new StewardError(
      'PERMISSION_DENIED',
      candidates.length === 0
        ? 'no Cassandra admin credentials are stored on this node (store_admin_credentials first)'
        : `Cassandra refused every login this agent has (${candidates.map((c) => c.user).join(', ')}): ${refused?.message ?? ''}`,
    );
  }
}
