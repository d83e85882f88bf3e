// ACL users. Input arrives checked (the operations table, on both sides);
// each entry point checks against the server everything it can before the
// first change, so a refused request changes nothing.
import type { UserOps } from '../sdk/contract.js';
import { alreadyExists, failedPrecondition, notFound } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { Access, Page, User, UserList, UserRef } from '../sdk/types.js';
import { deleteAclUser, describePermissions, getAclUser, listAclUserNames, persistAcl, setAclUser, type AclUser } from './acl.js';
import { userAclArgs } from './acl-rules.js';
import type { Session, SessionRunner } from './connection.js';
import { pageLimit, pageMarker } from './paging.js';
import { RESERVED_USERS } from './validation.js';

const label = (name: string): string => `user '${name}'`;

const toUser = (u: AclUser): User => ({ name: u.name, host: '', password: '', access: [], permissions: describePermissions(u) });

async function requireUser(s: Session, ref: UserRef): Promise<AclUser> {
  const u = await getAclUser(s, ref.name);
  if (!u) throw notFound(`${label(ref.name)} does not exist`);
  return u;
}

export async function createUsers(s: Session, users: readonly User[]): Promise<void> {
  // Should an error reply ever quote a command, the password in it is masked.
  for (const u of users) registerSecret(u.password);
  const args = users.map((u, i) => userAclArgs(u.permissions, u.password, `users[${i}].permissions`));
  for (const [i, u] of users.entries()) {
    if (await getAclUser(s, u.name)) throw alreadyExists(`${label(u.name)} already exists (users[${i}])`);
  }
  const created: string[] = [];
  try {
    for (const [i, u] of users.entries()) {
      await setAclUser(s, u.name, args[i], `users[${i}].permissions`);
      created.push(u.name);
    }
    await persistAcl(s);
  } catch (err) {
    // All or nothing: a half-applied request would be hard to retry.
    for (const name of created) await deleteAclUser(s, name).catch(() => undefined);
    throw err;
  }
}

export async function listUsers(s: Session, page: Page): Promise<UserList> {
  const limit = pageLimit(page);
  const marker = pageMarker(page);
  const names = (await listAclUserNames(s)).filter((n) => !RESERVED_USERS.includes(n) && n > marker).sort();
  const pageNames = names.slice(0, limit);
  const users: User[] = [];
  for (const name of pageNames) {
    const u = await getAclUser(s, name);
    if (u) users.push(toUser(u)); // deleted meanwhile: leave it out
  }
  return { users, nextMarker: names.length > limit ? pageNames.at(-1)! : '' };
}

export async function getUser(s: Session, ref: UserRef): Promise<User> {
  return toUser(await requireUser(s, ref));
}

/** Deleting a user also disconnects the clients logged in as it (Redis does that itself). */
export async function deleteUser(s: Session, ref: UserRef): Promise<void> {
  const u = await requireUser(s, ref);
  await deleteAclUser(s, u.name);
  await persistAcl(s);
}

/** Connections already logged in keep working; the old password is refused from the next AUTH on. */
export async function changePassword(s: Session, ref: UserRef, password: string): Promise<void> {
  registerSecret(password);
  const u = await requireUser(s, ref);
  await setAclUser(s, u.name, ['resetpass', `>${password}`], 'password');
  await persistAcl(s);
}

/** Redis users have no database access to list; the user must still exist. */
export async function listAccess(s: Session, ref: UserRef): Promise<Access[]> {
  await requireUser(s, ref);
  return [];
}

/** UserOps over the manager's admin sessions. */
export function userOps(session: SessionRunner): UserOps {
  const noDatabases = async () => {
    throw failedPrecondition('Redis has no databases to grant or revoke');
  };
  return {
    create: (users, op) => session((s) => createUsers(s, users), op.signal),
    list: (page, op) => session((s) => listUsers(s, page), op.signal),
    get: (r, op) => session((s) => getUser(s, r), op.signal),
    delete: (r, op) => session((s) => deleteUser(s, r), op.signal),
    changePassword: (r, password, op) => session((s) => changePassword(s, r, password), op.signal),
    // Never reached through the agent: the validator refuses every database name.
    grant: noDatabases,
    revoke: noDatabases,
    listAccess: (r, op) => session((s) => listAccess(s, r), op.signal),
  };
}
