// Database-level grants. In GRANT and REVOKE a database name is a pattern:
// "_" and "%" are wildcards, so `app_1`.* would also cover `appX1`. Escaping
// them makes a grant cover exactly the database named; mysql.db stores the
// escaped form, which is why reads unescape it.
import { quoteMysqlIdent } from '../sdk/identifiers.js';
import { exec, select, type Session } from './connection.js';

const escapePattern = (db: string): string => db.replace(/[\\_%]/g, '\\$&');
const unescapePattern = (db: string): string => db.replace(/\\([\\_%])/g, '$1');

/** `db`.* for GRANT/REVOKE, matching only `db`. Call with validated names only. */
export const grantTarget = (db: string): string => `${quoteMysqlIdent(escapePattern(db))}.*`;

export async function grantAll(s: Session, db: string, user: string, host: string): Promise<void> {
  await exec(s, `GRANT ALL PRIVILEGES ON ${grantTarget(db)} TO ?@?`, [user, host]);
}

export async function revokeAll(s: Session, db: string, user: string, host: string): Promise<void> {
  await exec(s, `REVOKE ALL PRIVILEGES ON ${grantTarget(db)} FROM ?@?`, [user, host]);
}

/** Databases each of `users` has a grant on, keyed `name@host`, sorted. */
export async function accessOf(s: Session, users: ReadonlyArray<{ name: string; host: string }>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(users.map((u) => [`${u.name}@${u.host}`, []]));
  if (users.length === 0) return out;
  const rows = await select<{ User: string; Host: string; Db: string }>(s, 'SELECT User, Host, Db FROM mysql.db WHERE User IN (?) ORDER BY Db', [
    [...new Set(users.map((u) => u.name))],
  ]);
  for (const r of rows) out.get(`${r.User}@${r.Host}`)?.push(unescapePattern(r.Db));
  return out;
}

/** Users holding one of our grants on exactly `db` (to clean up when it is dropped). */
export async function grantees(s: Session, db: string): Promise<Array<{ user: string; host: string }>> {
  const rows = await select<{ User: string; Host: string }>(s, 'SELECT User, Host FROM mysql.db WHERE Db = ?', [escapePattern(db)]);
  return rows.map((r) => ({ user: r.User, host: r.Host }));
}
