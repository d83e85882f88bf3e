// Users are login roles. Every entry point validates its input again (the
// controller already did) and checks everything it can before the first
// change, so a bad request changes nothing.
//
// Passwords reach the server only as SCRAM verifiers (scram.ts), inside a
// quoted literal: CREATE/ALTER ROLE cannot take parameters.
import { escapeLiteral } from 'pg';
import type { UserOps } from '../sdk/contract.js';
import { alreadyExists, failedPrecondition, notFound } from '../sdk/errors.js';
import { quotePgIdent } from '../sdk/identifiers.js';
import { registerSecret } from '../sdk/redact.js';
import type { Access, Page, User, UserList, UserRef } from '../sdk/types.js';
import { exec, select, transaction, type OpenSessions, type Session, type Sessions } from './connection.js';
import { RESERVED_PATTERN, databaseExists } from './databases.js';
import { accessOf, grantDatabase, revokeDatabase, terminateSessions } from './grants.js';
import { pageLimit, pageMarker } from './paging.js';
import { scramVerifier } from './scram.js';
import { RESERVED_USERS } from './validation.js';

const q = quotePgIdent;
const label = (name: string): string => `user '${name}'`;
const passwordLiteral = (password: string): string => escapeLiteral(scramVerifier(password));

/** Login roles the API manages (the reserved ones never count, whatever their spelling). */
export async function userExists(s: Session, name: string): Promise<boolean> {
  return (await select(s, 'SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolcanlogin', [name])).length > 0;
}

async function requireUser(s: Session, ref: UserRef): Promise<string> {
  if (!(await userExists(s, ref.name))) throw notFound(`${label(ref.name)} does not exist`);
  return ref.name;
}

async function requireDatabases(s: Session, dbs: readonly string[], field: string): Promise<void> {
  for (const [i, db] of dbs.entries()) {
    if (!(await databaseExists(s, db))) throw notFound(`database '${db}' does not exist (${field}[${i}])`);
  }
}

const toUser = (name: string, dbs: readonly string[]): User => ({
  name,
  host: '',
  password: '',
  access: dbs.map((database) => ({ database })),
  permissions: '',
});

export async function createUsers(sessions: Sessions, users: readonly User[]): Promise<void> {
  // Should an error ever quote a statement, the password in it is masked.
  for (const u of users) registerSecret(u.password);
  await sessions(async (s) => {
    for (const [i, u] of users.entries()) {
      // Any role, login or not: the name is taken either way.
      if ((await select(s, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [u.name])).length) {
        throw alreadyExists(`${label(u.name)} already exists (users[${i}])`);
      }
      await requireDatabases(
        s,
        (u.access ?? []).map((a) => a.database),
        `users[${i}].access`,
      );
    }
    await transaction(s, async () => {
      for (const u of users) {
        await exec(
          s,
          `CREATE ROLE ${q(u.name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD ${passwordLiteral(u.password)}`,
        );
      }
    });
  });
  try {
    for (const u of users) for (const a of u.access ?? []) await grantDatabase(sessions, a.database, u.name);
  } catch (err) {
    // All or nothing: a half-applied request would be hard to retry. The roles
    // are brand new, so they own nothing that dropping them could lose.
    for (const u of users) await dropRole(sessions, u.name).catch(() => undefined);
    throw err;
  }
}

export async function listUsers(s: Session, page: Page): Promise<UserList> {
  const limit = pageLimit(page);
  const marker = pageMarker(page);
  const rows = await select<{ rolname: string }>(
    s,
    `SELECT rolname FROM pg_roles
      WHERE rolcanlogin AND lower(rolname) <> ALL($1::text[]) AND lower(rolname) NOT LIKE $2
        AND rolname::text COLLATE "C" > $3::text
      ORDER BY rolname::text COLLATE "C" LIMIT $4`,
    [RESERVED_USERS, RESERVED_PATTERN, marker, limit + 1],
  );
  const names = rows.slice(0, limit).map((r) => r.rolname);
  const access = await accessOf(s, names);
  return {
    users: names.map((n) => toUser(n, access.get(n) ?? [])),
    nextMarker: rows.length > limit ? names.at(-1)! : '',
  };
}

export async function getUser(s: Session, ref: UserRef): Promise<User> {
  const name = await requireUser(s, ref);
  return toUser(name, (await accessOf(s, [name])).get(name) ?? []);
}

interface Owned {
  database: string;
  count: number;
  examples: string[];
}

/**
 * What `role` owns that dropping it would lose or orphan: objects in any
 * database, and databases themselves. Default privileges it set up do not
 * count (they are ours, from grants.ts, and go with it).
 */
async function ownedBy(sessions: Sessions, role: string): Promise<Owned[]> {
  const rows = await sessions((s) =>
    select<{ database: string | null; dbid: number; count: number; connectable: boolean }>(
      s,
      `SELECT d.datname AS database, sd.dbid::int AS dbid, count(*)::int AS count, coalesce(d.datallowconn, false) AS connectable
         FROM pg_shdepend sd LEFT JOIN pg_database d ON d.oid = sd.dbid
        WHERE sd.refclassid = 'pg_authid'::regclass AND sd.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
          AND sd.deptype = 'o' AND sd.classid <> 'pg_default_acl'::regclass
        GROUP BY d.datname, sd.dbid, d.datallowconn
        ORDER BY d.datname::text COLLATE "C" NULLS FIRST`,
      [role],
    ),
  );
  const owned: Owned[] = [];
  for (const r of rows) {
    if (r.dbid === 0) {
      // Shared objects: databases (or tablespaces) owned by the role.
      const dbs = await sessions((s) =>
        select<{ datname: string }>(s, 'SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1', [role]),
      );
      owned.push({ database: '', count: r.count, examples: dbs.map((d) => `database ${d.datname}`) });
      continue;
    }
    const examples = r.connectable
      ? await sessions(
          (s) =>
            select<{ what: string }>(
              s,
              `SELECT pg_describe_object(classid, objid, objsubid) AS what FROM pg_shdepend
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND refclassid = 'pg_authid'::regclass AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
                  AND deptype = 'o' AND classid <> 'pg_default_acl'::regclass
                ORDER BY 1 LIMIT 3`,
              [role],
            ),
          r.database!,
        ).then((rows) => rows.map((x) => x.what))
      : [];
    owned.push({ database: r.database!, count: r.count, examples });
  }
  return owned;
}

function describeOwned(owned: readonly Owned[]): string {
  return owned
    .map((o) => {
      const where = o.database
        ? `${o.count} object${o.count === 1 ? '' : 's'} in database '${o.database}'`
        : `${o.count} shared object${o.count === 1 ? '' : 's'}`;
      return o.examples.length ? `${where} (${o.examples.join(', ')}${o.count > o.examples.length ? ', ...' : ''})` : where;
    })
    .join('; ');
}

/**
 * Drops a role that owns nothing: its privileges and default privileges are
 * removed database by database (DROP OWNED BY, which with nothing owned only
 * revokes), then the role itself.
 */
async function dropRole(sessions: Sessions, role: string): Promise<void> {
  const dbs = await sessions((s) =>
    select<{ datname: string }>(
      s,
      `SELECT DISTINCT d.datname FROM pg_shdepend sd JOIN pg_database d ON d.oid = sd.dbid
        WHERE sd.refclassid = 'pg_authid'::regclass AND sd.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1) AND d.datallowconn`,
      [role],
    ),
  );
  for (const { datname } of dbs) await sessions((s) => exec(s, `DROP OWNED BY ${q(role)}`), datname);
  // In the maintenance database too: that also revokes privileges on shared objects (CONNECT on databases).
  await sessions(async (s) => {
    await exec(s, `DROP OWNED BY ${q(role)}`);
    await exec(s, `DROP ROLE ${q(role)}`);
  });
}

/**
 * Deletes a user. One that owns objects is refused (FAILED_PRECONDITION
 * naming them) rather than having them dropped with it or handed to a
 * superuser (a function it wrote would then run with superuser rights).
 * Before the final check the user is kept from connecting (CONNECTION LIMIT
 * 0, which unlike NOLOGIN leaves it visible, so a failed delete can be
 * retried) and its sessions are ended: nothing it creates meanwhile is lost.
 */
export async function deleteUser(sessions: Sessions, ref: UserRef): Promise<void> {
  const name = await sessions((s) => requireUser(s, ref));
  const refuse = (owned: readonly Owned[]) =>
    failedPrecondition(`${label(name)} still owns ${describeOwned(owned)}; drop them or give them another owner (REASSIGN OWNED, with root enabled) first`);
  let owned = await ownedBy(sessions, name);
  if (owned.length) throw refuse(owned);
  const limit = await sessions(async (s) => {
    const [row] = await select<{ limit: number }>(s, 'SELECT rolconnlimit AS "limit" FROM pg_roles WHERE rolname = $1', [name]);
    await exec(s, `ALTER ROLE ${q(name)} CONNECTION LIMIT 0`);
    await terminateSessions(s, name);
    return row.limit;
  });
  owned = await ownedBy(sessions, name);
  if (owned.length) {
    await sessions((s) => exec(s, `ALTER ROLE ${q(name)} CONNECTION LIMIT ${Number(limit)}`));
    throw refuse(owned);
  }
  await dropRole(sessions, name);
}

export async function changePassword(s: Session, ref: UserRef, password: string): Promise<void> {
  registerSecret(password);
  const name = await requireUser(s, ref);
  await exec(s, `ALTER ROLE ${q(name)} PASSWORD ${passwordLiteral(password)}`);
}

export async function grantAccess(sessions: Sessions, ref: UserRef, databases: readonly string[]): Promise<void> {
  const name = await sessions(async (s) => {
    const n = await requireUser(s, ref);
    await requireDatabases(s, databases, 'databases');
    return n;
  });
  for (const db of databases) await grantDatabase(sessions, db, name);
}

/** Revoking access the user does not have is a no-op, so a retried request succeeds. */
export async function revokeAccess(sessions: Sessions, ref: UserRef, databases: readonly string[]): Promise<void> {
  const { name, present } = await sessions(async (s) => {
    const n = await requireUser(s, ref);
    const existing: string[] = [];
    for (const db of databases) if (await databaseExists(s, db)) existing.push(db);
    return { name: n, present: existing };
  });
  for (const db of present) await revokeDatabase(sessions, db, name);
}

export async function listAccess(s: Session, ref: UserRef): Promise<Access[]> {
  return (await getUser(s, ref)).access;
}

/** UserOps over the manager's admin sessions. */
export function userOps(open: OpenSessions): UserOps {
  return {
    create: (users, op) => createUsers(open(op.signal), users),
    list: (page, op) => open(op.signal)((s) => listUsers(s, page)),
    get: (r, op) => open(op.signal)((s) => getUser(s, r)),
    delete: (r, op) => deleteUser(open(op.signal), r),
    changePassword: (r, password, op) => open(op.signal)((s) => changePassword(s, r, password)),
    grant: (r, dbs, op) => grantAccess(open(op.signal), r, dbs),
    revoke: (r, dbs, op) => revokeAccess(open(op.signal), r, dbs),
    listAccess: (r, op) => open(op.signal)((s) => listAccess(s, r)),
  };
}
