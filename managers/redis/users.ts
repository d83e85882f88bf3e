// ACL users. Every entry point validates its input again (the controller
// already did) and checks everything it can before the first change, so a bad
// request changes nothing.
import { usersCheckedFirst } from '../sdk/checked-first.js';
import type { UserOps } from '../sdk/contract.js';
import { alreadyExists, notFound } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { Access, Page, User, UserList, UserRef } from '../sdk/types.js';
import { deleteAclUser, describePermissions, getAclUser, listAclUserNames, persistAcl, setAclUser, type AclUser } from './acl.js';
import { userAclArgs } from './acl-rules.js';
import type { Session, SessionRunner } from './connection.js';
import { checkPage, pageLimit, pageMarker } from './paging.js';
import { RESERVED_USERS, checkPasswordValue, checkUsers, redisValidator, refuseDatabases } from './validation.js';

const label = (name: string): string => `user '${name}'`;

const toUser = (u: AclUser): User => ({ name: u.name, host: '', password: '', access: [], permissions: describePermissions(u) });

async function requireUser(s: Session, ref: UserRef, field: string): Promise<AclUser> {
  redisValidator.userRef(ref, field);
  const u = await getAclUser(s, ref.name);
  if (!u) throw notFound(`${label(ref.name)} does not exist`);
  return u;
}

export async function createUsers(s: Session, users: readonly User[]): Promise<void> {
  checkUsers(users);
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
  const names = (await listAclUserNames(s))
    .filter((n) => !RESERVED_USERS.includes(n) && n > marker)
    .sort();
  const pageNames = names.slice(0, limit);
  const users: User[] = [];
  for (const name of pageNames) {
    const u = await getAclUser(s, name);
    if (u) users.push(toUser(u)); // deleted meanwhile: leave it out
  }
  return { users, nextMarker: names.length > limit ? pageNames.at(-1)! : '' };
}

export async function getUser(s: Session, ref: UserRef): Promise<User> {
  return toUser(await requireUser(s, ref, 'user'));
}

/** Deleting a user also disconnects the clients logged in as it (Redis does that itself). */
export async function deleteUser(s: Session, ref: UserRef): Promise<void> {
  const u = await requireUser(s, ref, 'user');
  await deleteAclUser(s, u.name);
  await persistAcl(s);
}

/** Connections already logged in keep working; the old password is refused from the next AUTH on. */
export async function changePassword(s: Session, ref: UserRef, password: string): Promise<void> {
  checkPasswordValue(password, 'password');
  registerSecret(password);
  const u = await requireUser(s, ref, 'user');
  await setAclUser(s, u.name, ['resetpass', `>${password}`], 'password');
  await persistAcl(s);
}

/** Redis users have no database access to list; the user must still exist. */
export async function listAccess(s: Session, ref: UserRef): Promise<Access[]> {
  await requireUser(s, ref, 'user');
  return [];
}

/** UserOps over the manager's admin sessions. */
export function userOps(session: SessionRunner): UserOps {
  const rules = {
    validator: redisValidator,
    users: checkUsers,
    page: checkPage,
    databases: (dbs: readonly string[]) => refuseDatabases(dbs, 'databases'),
  };
  return usersCheckedFirst(rules, {
    create: (users, op) => session((s) => createUsers(s, users), op.signal),
    list: (page, op) => session((s) => listUsers(s, page), op.signal),
    get: (r, op) => session((s) => getUser(s, r), op.signal),
    delete: (r, op) => session((s) => deleteUser(s, r), op.signal),
    changePassword: (r, password, op) => session((s) => changePassword(s, r, password), op.signal),
    // Never reached: Redis has no databases, so the check refuses every list.
    grant: async () => undefined,
    revoke: async () => undefined,
    listAccess: (r, op) => session((s) => listAccess(s, r), op.signal),
  });
}
