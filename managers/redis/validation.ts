// Redis input rules. The controller checks a request with this before sending
// it; the agent checks again before touching the server. Redis users are ACL
// users: a name, a password and a permission rule; they have no host and no
// databases, so both must be empty rather than silently ignored.
import { invalidArgument } from '../sdk/errors.js';
import { checkName, checkPassword, checkString } from '../sdk/identifiers.js';
import type { Validator } from '../sdk/contract.js';
import { validatorOf, type ItemRules } from '../sdk/validator.js';
import { pageMarker } from './paging.js';
import type { User, UserRef } from '../sdk/types.js';
import { permissionTokens } from './acl-rules.js';
import { redisParameters } from './parameters.js';

/** The account the agent manages the server with. */
export const ADMIN_USER = 'steward_admin';
/** Redis's built-in user: what clients get without AUTH (or AUTH with a password only); it is "root" here. */
export const DEFAULT_USER = 'default';

/** The account replicas log in to their source with (replication-users.ts). */
export const REPLICATION_USER = 'steward_repl';
/** The account replicas copy their source's users through (ACL users do not replicate in Redis). */
export const USER_SYNC_USER = 'steward_usersync';

/** Never created, changed, listed or deleted through the user API. */
export const RESERVED_USERS: readonly string[] = [DEFAULT_USER, ADMIN_USER, REPLICATION_USER, USER_SYNC_USER];

const USER_RULES = {
  what: 'user name',
  maxLength: 64,
  pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
  patternHint: 'letters, digits, "_", "." and "-", not starting with "." or "-"',
  reserved: RESERVED_USERS,
};

export const PASSWORD_RULES = { minLength: 8, maxLength: 256 };

export function checkUserName(name: unknown, field: string): string {
  return checkName(name, field, USER_RULES);
}

export function checkPasswordValue(password: unknown, field: string): string {
  const pw = checkPassword(password, field, PASSWORD_RULES);
  // Spaces are legal to Redis but break every redis-cli and URL that carries the password.
  if (pw.includes(' ')) throw invalidArgument(field, 'password must not contain spaces');
  return pw;
}

function checkNoHost(host: unknown, field: string): void {
  if (checkString(host ?? '', field) !== '') throw invalidArgument(field, 'Redis users have no host: leave it empty');
}

const noDatabases = (field: string) => invalidArgument(field, 'Redis has no databases to manage; limit a user with key patterns in its permissions instead');

/** The item rules (each entry on its own); validatorOf adds the list and prepare rules. */
export const redisRules: ItemRules = {
  words: { user: 'user', database: 'database' },
  databaseName(_name, field) {
    throw noDatabases(field);
  },
  database(_db, field) {
    throw noDatabases(field);
  },
  userRef(ref: UserRef, field) {
    if (!ref || typeof ref !== 'object') throw invalidArgument(field, 'must be a user reference');
    checkUserName(ref.name, `${field}.name`);
    checkNoHost(ref.host, `${field}.host`);
  },
  user(user: User, field) {
    if (!user || typeof user !== 'object') throw invalidArgument(field, 'must be a user');
    checkUserName(user.name, `${field}.name`);
    checkNoHost(user.host, `${field}.host`);
    checkPasswordValue(user.password, `${field}.password`);
    const access = user.access ?? [];
    if (!Array.isArray(access) || access.length > 0) throw noDatabases(`${field}.access`);
    permissionTokens(checkString(user.permissions ?? '', `${field}.permissions`), `${field}.permissions`);
  },
  userKey: (u) => u.name,
  password(password, field) {
    checkPasswordValue(password, field);
  },
  page: (page) => void pageMarker(page),
  parameters: redisParameters,
};

export const redisValidator: Validator = validatorOf(redisRules);
