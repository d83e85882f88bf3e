// Users are login roles; access to a database is ALL PERMISSIONS on its
// keyspace. Role names cannot be bind markers in CQL and passwords only
// string literals: both are validated, then quoted (see validation.ts).
// Every entry point checks everything it can before the first change, so a
// bad request changes nothing.
import type { UserOps } from '../sdk/contract.js';
import { alreadyExists, invalidArgument, notFound } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { Access, Page, User, UserList, UserRef } from '../sdk/types.js';
import { AUTH_READ, type Session, type SessionRunner } from './connection.js';
import { keyspaceExists } from './keyspaces.js';
import { pageLimit, pageMarker, pageOf } from './paging.js';
import { RESERVED_ROLES, cqlString, quoteCqlIdent } from './validation.js';

export async function roleExists(s: Session, name: string): Promise<boolean> {
  return (await s.rows('SELECT role FROM system_auth.roles WHERE role = ?', [name], AUTH_READ)).length > 0;
}

/** Keyspaces `role` holds permissions on (keyspace-level grants only), sorted. */
export async function accessOf(s: Session, role: string): Promise<string[]> {
  const rows = await s.rows('SELECT resource FROM system_auth.role_permissions WHERE role = ?', [role], AUTH_READ);
  const keyspaces = rows.map((r) => /^data\/([^/]+)$/.exec(String(r.resource))?.[1]).filter((k): k is string => !!k);
  return [...new Set(keyspaces)].sort();
}

const grantAll = (s: Session, keyspace: string, role: string): Promise<void> =>
  s.exec(`GRANT ALL PERMISSIONS ON KEYSPACE ${quoteCqlIdent(keyspace)} TO ${quoteCqlIdent(role)}`);

/**
 * Takes away the keyspace and everything in it: a role that created a table
 * holds permissions on that table of its own (Cassandra grants them to the
 * creator), which a keyspace-level REVOKE leaves in place.
 */
async function revokeAll(s: Session, keyspace: string, role: string): Promise<void> {
  await s.exec(`REVOKE ALL PERMISSIONS ON KEYSPACE ${quoteCqlIdent(keyspace)} FROM ${quoteCqlIdent(role)}`);
  const rows = await s.rows('SELECT resource FROM system_auth.role_permissions WHERE role = ?', [role], AUTH_READ);
  for (const r of rows) {
    const table = /^data\/([^/]+)\/([^/]+)$/.exec(String(r.resource));
    if (table && table[1] === keyspace) {
      await s.exec(`REVOKE ALL PERMISSIONS ON TABLE ${quoteCqlIdent(keyspace)}.${quoteCqlIdent(table[2])} FROM ${quoteCqlIdent(role)}`);
    }
  }
}

/** Whoever the agent manages the node as is off limits, whatever it is called. */
export type AdminName = () => Promise<string>;

async function refuseAdmin(adminName: AdminName, name: string, field: string): Promise<void> {
  if (name === (await adminName())) throw invalidArgument(field, `role name '${name}' is reserved`);
}

async function requireRole(s: Session, ref: UserRef, field: string, adminName: AdminName): Promise<string> {
  await refuseAdmin(adminName, ref.name, `${field}.name`);
  if (!(await roleExists(s, ref.name))) throw notFound(`role '${ref.name}' does not exist`);
  return ref.name;
}

async function requireKeyspaces(s: Session, keyspaces: readonly string[], field: string): Promise<void> {
  for (const [i, ks] of keyspaces.entries()) {
    if (!(await keyspaceExists(s, ks))) throw notFound(`keyspace '${ks}' does not exist (${field}[${i}])`);
  }
}

const toUser = (name: string, keyspaces: string[]): User => ({
  name,
  host: '',
  password: '',
  access: keyspaces.map((database) => ({ database })),
  permissions: '',
});

export async function createRoles(s: Session, users: readonly User[], adminName: AdminName): Promise<void> {
  for (const u of users) registerSecret(u.password);
  for (const [i, u] of users.entries()) {
    await refuseAdmin(adminName, u.name, `users[${i}].name`);
    if (await roleExists(s, u.name)) throw alreadyExists(`role '${u.name}' already exists (users[${i}])`);
    await requireKeyspaces(
      s,
      (u.access ?? []).map((a) => a.database),
      `users[${i}].access`,
    );
  }
  const created: string[] = [];
  try {
    for (const u of users) {
      await s.exec(`CREATE ROLE ${quoteCqlIdent(u.name)} WITH PASSWORD = ${cqlString(u.password)} AND LOGIN = true AND SUPERUSER = false`);
      created.push(u.name);
      for (const a of u.access ?? []) await grantAll(s, a.database, u.name);
    }
  } catch (err) {
    // All or nothing: a half-applied request would be hard to retry.
    for (const name of created) await s.exec(`DROP ROLE IF EXISTS ${quoteCqlIdent(name)}`).catch(() => undefined);
    throw err;
  }
}

export async function listRoles(s: Session, page: Page, adminName: AdminName): Promise<UserList> {
  pageLimit(page);
  pageMarker(page);
  const hidden = new Set([...RESERVED_ROLES, await adminName()]);
  const rows = await s.rows('SELECT role FROM system_auth.roles', [], AUTH_READ);
  const names = rows.map((r) => String(r.role)).filter((n) => !hidden.has(n));
  const { items, nextMarker } = pageOf(names, (n) => n, page);
  const users: User[] = [];
  for (const name of items) users.push(toUser(name, await accessOf(s, name)));
  return { users, nextMarker };
}

export async function getRole(s: Session, ref: UserRef, adminName: AdminName): Promise<User> {
  const name = await requireRole(s, ref, 'user', adminName);
  return toUser(name, await accessOf(s, name));
}

/** DROP ROLE takes the role's permissions with it. */
export async function deleteRole(s: Session, ref: UserRef, adminName: AdminName): Promise<void> {
  const name = await requireRole(s, ref, 'user', adminName);
  await s.exec(`DROP ROLE ${quoteCqlIdent(name)}`);
}

export async function changeRolePassword(s: Session, ref: UserRef, password: string, adminName: AdminName): Promise<void> {
  registerSecret(password);
  const name = await requireRole(s, ref, 'user', adminName);
  await s.exec(`ALTER ROLE ${quoteCqlIdent(name)} WITH PASSWORD = ${cqlString(password)}`);
}

export async function grantKeyspaces(s: Session, ref: UserRef, keyspaces: readonly string[], adminName: AdminName): Promise<void> {
  const name = await requireRole(s, ref, 'user', adminName);
  await requireKeyspaces(s, keyspaces, 'databases');
  for (const ks of keyspaces) await grantAll(s, ks, name);
}

/** Revoking access the role does not have is a no-op, so a retried request succeeds. */
export async function revokeKeyspaces(s: Session, ref: UserRef, keyspaces: readonly string[], adminName: AdminName): Promise<void> {
  const name = await requireRole(s, ref, 'user', adminName);
  const held = (await s.rows('SELECT resource FROM system_auth.role_permissions WHERE role = ?', [name], AUTH_READ)).map((r) => String(r.resource));
  for (const ks of keyspaces) {
    if (held.some((r) => r === `data/${ks}` || r.startsWith(`data/${ks}/`))) await revokeAll(s, ks, name);
  }
}

export async function listRoleAccess(s: Session, ref: UserRef, adminName: AdminName): Promise<Access[]> {
  return (await getRole(s, ref, adminName)).access;
}

/** UserOps over the manager's admin sessions. */
export function roleOps(session: SessionRunner, adminName: AdminName): UserOps {
  return {
    create: (users, op) => session((s) => createRoles(s, users, adminName), op.signal),
    list: (page, op) => session((s) => listRoles(s, page, adminName), op.signal),
    get: (r, op) => session((s) => getRole(s, r, adminName), op.signal),
    delete: (r, op) => session((s) => deleteRole(s, r, adminName), op.signal),
    changePassword: (r, password, op) => session((s) => changeRolePassword(s, r, password, adminName), op.signal),
    grant: (r, keyspaces, op) => session((s) => grantKeyspaces(s, r, keyspaces, adminName), op.signal),
    revoke: (r, keyspaces, op) => session((s) => revokeKeyspaces(s, r, keyspaces, adminName), op.signal),
    listAccess: (r, op) => session((s) => listRoleAccess(s, r, adminName), op.signal),
  };
}
