// MySQL/MariaDB input rules. The controller checks a request with this before
// sending it; the agent checks again before touching the server. Both flavours
// share one rule set (the stricter of the two where they differ), so a name
// valid on one is valid on the other.
import { isIP } from 'node:net';
import { invalidArgument } from '../sdk/errors.js';
import { checkName, checkPassword, checkString, describeValue } from '../sdk/identifiers.js';
import type { Validator } from '../sdk/contract.js';
import { checkAccessList } from '../sdk/request-lists.js';
import { validatorOf, type ItemRules } from '../sdk/validator.js';
import type { Database, User, UserRef } from '../sdk/types.js';
import { mysqlParameters } from './parameters.js';

/** The account the agent manages the server with. */
export const ADMIN_USER = 'steward_admin';

/** Accounts of either flavour's own, plus the agent's: never created, changed, listed or dropped through the API. */
export const RESERVED_USERS: readonly string[] = [
  'root',
  'mysql',
  'mariadb.sys',
  'mysql.sys',
  'mysql.session',
  'mysql.infoschema',
  'debian-sys-maint',
  ADMIN_USER,
  // The replication account (replication.ts).
  'steward_repl',
];

export const RESERVED_DATABASES: readonly string[] = ['mysql', 'sys', 'information_schema', 'performance_schema', 'lost+found'];

/** MySQL 8 limits user names to 32 characters (MariaDB allows 80). */
const USER_RULES = {
  what: 'user name',
  maxLength: 32,
  pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
  patternHint: 'letters, digits, "_", "." and "-", not starting with "." or "-"',
  reserved: RESERVED_USERS,
};

const DATABASE_RULES = {
  what: 'database name',
  maxLength: 64,
  pattern: /^[A-Za-z0-9_][A-Za-z0-9_$-]*$/,
  patternHint: 'letters, digits, "_", "$" and "-", not starting with "$" or "-"',
  reserved: RESERVED_DATABASES,
};

const CHARSET_RULES = { what: 'character set', maxLength: 32, pattern: /^[a-z0-9_]+$/, patternHint: 'lower-case letters, digits and "_"' };
const COLLATION_RULES = { what: 'collation', maxLength: 64, pattern: /^[a-z0-9_]+$/, patternHint: 'lower-case letters, digits and "_"' };

export const PASSWORD_RULES = { minLength: 1, maxLength: 128 };
const MAX_HOST_LENGTH = 255;

/** The host a user gets when the request leaves it empty. */
export const DEFAULT_HOST = '%';
export const hostOf = (ref: { host: string }): string => ref.host || DEFAULT_HOST;

export function checkUserName(name: unknown, field: string): string {
  return checkName(name, field, USER_RULES);
}

export function checkDatabaseName(name: unknown, field: string): string {
  return checkName(name, field, DATABASE_RULES);
}

export function checkCharset(name: unknown, field: string): string {
  return checkName(name, field, CHARSET_RULES);
}

export function checkCollation(name: unknown, field: string): string {
  return checkName(name, field, COLLATION_RULES);
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const isIpv4 = (s: string): boolean => {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p));
};

/** A netmask is contiguous ones then zeros. */
function isNetmask(s: string): boolean {
  if (!isIpv4(s)) return false;
  const bits = s.split('.').reduce((acc, p) => (acc << 8) | Number(p), 0) >>> 0;
  const inverted = ~bits >>> 0;
  return (inverted & (inverted + 1)) === 0;
}

/**
 * Host patterns MySQL understands: '%', 'localhost', IPv4/IPv6 literals with
 * optional '%' wildcards, the a.b.c.d/m.m.m.m netmask form, and host names
 * (where '%' and '_' are wildcards). Empty means '%'.
 */
export function checkHost(host: unknown, field: string): string {
  const h = checkString(host, field);
  if (h === '' || h === '%' || h === 'localhost') return h || DEFAULT_HOST;
  if (!/^[\x20-\x7e]*$/.test(h)) throw invalidArgument(field, 'host must contain only printable ASCII characters');
  if (h.length > MAX_HOST_LENGTH) throw invalidArgument(field, `host must be at most ${MAX_HOST_LENGTH} characters`);
  if (h.includes('/')) {
    const [ip, mask, ...rest] = h.split('/');
    if (rest.length || !isIpv4(ip) || !isNetmask(mask)) {
      throw invalidArgument(field, `host ${describeValue(h)} is not a valid a.b.c.d/m.m.m.m netmask pattern`);
    }
    return h;
  }
  if (h.includes(':')) {
    // IPv6: a literal, or a literal with '%' wildcards standing for whole groups.
    if (!/^[0-9A-Fa-f:.%]+$/.test(h) || (!h.includes('%') && isIP(h) !== 6)) {
      throw invalidArgument(field, `host ${describeValue(h)} is not a valid IPv6 address pattern`);
    }
    return h;
  }
  if (!/^[A-Za-z0-9.%_-]+$/.test(h)) {
    throw invalidArgument(field, `host ${describeValue(h)} may contain only letters, digits, ".", "-", "_" and "%"`);
  }
  return h;
}

export function checkPasswordValue(password: unknown, field: string): string {
  return checkPassword(password, field, PASSWORD_RULES);
}

/** The item rules (each entry on its own); validatorOf adds the list and prepare rules. */
export const mysqlRules: ItemRules = {
  words: { user: 'user', database: 'database' },
  databaseName(name, field) {
    checkDatabaseName(name, field);
  },
  database(db: Database, field) {
    if (!db || typeof db !== 'object') throw invalidArgument(field, 'must be a database');
    checkDatabaseName(db.name, `${field}.name`);
    if (db.characterSet) checkCharset(db.characterSet, `${field}.character_set`);
    if (db.collation) checkCollation(db.collation, `${field}.collation`);
  },
  userRef(ref: UserRef, field) {
    if (!ref || typeof ref !== 'object') throw invalidArgument(field, 'must be a user reference');
    checkUserName(ref.name, `${field}.name`);
    checkHost(ref.host ?? '', `${field}.host`);
  },
  user(user: User, field) {
    if (!user || typeof user !== 'object') throw invalidArgument(field, 'must be a user');
    checkUserName(user.name, `${field}.name`);
    checkHost(user.host ?? '', `${field}.host`);
    checkPasswordValue(user.password, `${field}.password`);
    checkAccessList(user.access, `${field}.access`, checkDatabaseName);
  },
  userKey: (u) => `${u.name}@${hostOf(u)}`,
  password(password, field) {
    checkPasswordValue(password, field);
  },
  parameters: mysqlParameters,
};

export const mysqlValidator: Validator = validatorOf(mysqlRules);
