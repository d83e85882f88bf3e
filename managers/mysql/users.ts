// User accounts. Input arrives checked (the operations table, on both sides);
// each entry point checks against the server everything it can before the
// first change, so a refused request changes nothing.
import type { UserOps } from '../sdk/contract.js';
import { alreadyExists, notFound } from '../sdk/errors.js';
import { pageLimit, pageMarker } from '../sdk/paging.js';
import { registerSecret } from '../sdk/redact.js';
import type { Access, Page, User, UserList, UserRef } from '../sdk/types.js';
import { exec, select, type Session, type SessionRunner } from './connection.js';
import { databaseExists } from './databases.js';
import { accessOf, grantAll, revokeAll } from './grants.js';
import { RESERVED_USERS, hostOf } from './validation.js';

const label = (name: string, host: string): string => `user '${name}'@'${host}'`;

export async function userExists(s: Session, name: string, host: string): Promise<boolean> {
  return (await select(s, 'SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [name, host])).length > 0;
}

async function requireUser(s: Session, ref: UserRef): Promise<{ name: string; host: string }> {
  const host = hostOf(ref);
  if (!(await userExists(s, ref.name, host))) throw notFound(`${label(ref.name, host)} does not exist`);
  return { name: ref.name, host };
}

async function requireDatabases(s: Session, dbs: readonly string[], field: string): Promise<void> {
  for (const [i, db] of dbs.entries()) {
    if (!(await databaseExists(s, db))) throw notFound(`database '${db}' does not exist (${field}[${i}])`);
  }
}

export async function createUsers(s: Session, users: readonly User[]): Promise<void> {
  // Should a driver error ever quote a statement, the password in it is masked.
  for (const u of users) registerSecret(u.password);
  for (const [i, u] of users.entries()) {
    if (await userExists(s, u.name, hostOf(u))) throw alreadyExists(`${label(u.name, hostOf(u))} already exists (users[${i}])`);
    await requireDatabases(
      s,
      (u.access ?? []).map((a) => a.database),
      `users[${i}].access`,
    );
  }
  const created: User[] = [];
  try {
    for (const u of users) {
      await exec(s, 'CREATE USER ?@? IDENTIFIED BY ?', [u.name, hostOf(u), u.password]);
      created.push(u);
      for (const a of u.access ?? []) await grantAll(s, a.database, u.name, hostOf(u));
    }
  } catch (err) {
    // All or nothing: a half-applied request would be hard to retry.
    for (const u of created) await exec(s, 'DROP USER IF EXISTS ?@?', [u.name, hostOf(u)]).catch(() => undefined);
    throw err;
  }
}

export async function listUsers(s: Session, page: Page): Promise<UserList> {
  const limit = pageLimit(page);
  // Markers are "name@host" (a name may have several hosts); a bare name skips all of its hosts.
  const marker = pageMarker(page, 300);
  const at = marker.indexOf('@');
  const [mName, mHost] = at >= 0 ? [marker.slice(0, at), marker.slice(at + 1)] : [marker, undefined];
  const after = !marker ? '' : mHost === undefined ? 'AND User > ?' : 'AND (User > ? OR (User = ? AND Host > ?))';
  const afterParams = !marker ? [] : mHost === undefined ? [mName] : [mName, mName, mHost];
  const rows = await select<{ User: string; Host: string }>(
    s,
    `SELECT User, Host FROM mysql.user WHERE User <> '' AND User NOT IN (?) ${after} ORDER BY User, Host LIMIT ?`,
    [RESERVED_USERS, ...afterParams, limit + 1],
  );
  const pageRows = rows.slice(0, limit).map((r) => ({ name: r.User, host: r.Host }));
  const access = await accessOf(s, pageRows);
  const last = pageRows.at(-1);
  return {
    users: pageRows.map((u) => toUser(u, access.get(`${u.name}@${u.host}`) ?? [])),
    nextMarker: rows.length > limit && last ? `${last.name}@${last.host}` : '',
  };
}

const toUser = (u: { name: string; host: string }, dbs: string[]): User => ({
  name: u.name,
  host: u.host,
  password: '',
  access: dbs.map((database) => ({ database })),
  permissions: '',
});

export async function getUser(s: Session, ref: UserRef): Promise<User> {
  const u = await requireUser(s, ref);
  const access = await accessOf(s, [u]);
  return toUser(u, access.get(`${u.name}@${u.host}`) ?? []);
}

export async function deleteUser(s: Session, ref: UserRef): Promise<void> {
  const u = await requireUser(s, ref);
  await exec(s, 'DROP USER ?@?', [u.name, u.host]);
}

export async function changePassword(s: Session, ref: UserRef, password: string): Promise<void> {
  registerSecret(password);
  const u = await requireUser(s, ref);
  await exec(s, 'ALTER USER ?@? IDENTIFIED BY ?', [u.name, u.host, password]);
}

export async function grantAccess(s: Session, ref: UserRef, databases: readonly string[]): Promise<void> {
  const u = await requireUser(s, ref);
  await requireDatabases(s, databases, 'databases');
  for (const db of databases) await grantAll(s, db, u.name, u.host);
}

/** Revoking access the user does not have is a no-op, so a retried request succeeds. */
export async function revokeAccess(s: Session, ref: UserRef, databases: readonly string[]): Promise<void> {
  const u = await requireUser(s, ref);
  const current = new Set((await accessOf(s, [u])).get(`${u.name}@${u.host}`));
  for (const db of databases) if (current.has(db)) await revokeAll(s, db, u.name, u.host);
}

export async function listAccess(s: Session, ref: UserRef): Promise<Access[]> {
  return (await getUser(s, ref)).access;
}

/** UserOps over the manager's admin sessions. */
export function userOps(session: SessionRunner): UserOps {
  return {
    create: (users, op) => session((s) => createUsers(s, users), op.signal),
    list: (page, op) => session((s) => listUsers(s, page), op.signal),
    get: (r, op) => session((s) => getUser(s, r), op.signal),
    delete: (r, op) => session((s) => deleteUser(s, r), op.signal),
    changePassword: (r, password, op) => session((s) => changePassword(s, r, password), op.signal),
    grant: (r, dbs, op) => session((s) => grantAccess(s, r, dbs), op.signal),
    revoke: (r, dbs, op) => session((s) => revokeAccess(s, r, dbs), op.signal),
    listAccess: (r, op) => session((s) => listAccess(s, r), op.signal),
  };
}
