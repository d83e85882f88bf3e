// PostgreSQL input rules. The controller checks a request with this before
// sending it; the agent checks again before touching the server.
//
// Names are limited to a plain ASCII pattern although PostgreSQL would take
// almost anything quoted: they also end up in log lines, error messages and
// other tools' command lines. They are still always quoted (quotePgIdent) and
// never folded to lower case, so "App" and "app" stay different objects.
import { invalidArgument } from '../sdk/errors.js';
import { checkName, checkPassword, checkString, describeValue, type NameRules } from '../sdk/identifiers.js';
import type { Validator } from '../sdk/contract.js';
import { checkAccessList } from '../sdk/request-lists.js';
import { validatorOf, type ItemRules } from '../sdk/validator.js';
import { pageMarker } from './paging.js';
import { postgresqlParameters } from './parameters.js';
import type { Database, User, UserRef } from '../sdk/types.js';

/** The role the agent manages the server with (superuser, unix socket only). */
export const ADMIN_USER = 'steward_admin';
/** The bootstrap superuser; what "root" means for PostgreSQL. */
export const ROOT_USER = 'postgres';
/** The account replicas connect to their source with (the controller names it; replication.ts creates it). */
export const REPLICATION_USER = 'steward_repl';

/**
 * Names no request may create, change, list or drop, as roles or databases:
 * the built-in ones, the agent's, and words PostgreSQL or pg_hba.conf give a
 * meaning of their own (a role called "all" or "public" would be ambiguous).
 */
export const RESERVED_NAMES: readonly string[] = [
  ROOT_USER,
  'template0',
  'template1',
  ADMIN_USER,
  REPLICATION_USER,
  'public',
  'none',
  'current_user',
  'current_role',
  'session_user',
  'all',
  'sameuser',
  'samerole',
  'samegroup',
  'replication',
];
export const RESERVED_USERS = RESERVED_NAMES;
export const RESERVED_DATABASES = RESERVED_NAMES;
/** PostgreSQL reserves pg_* role names for itself; databases get the same rule to keep the two lists alike. */
export const RESERVED_PREFIX = 'pg_';

/** NAMEDATALEN - 1: longer identifiers would be silently truncated by the server. */
export const MAX_IDENTIFIER_BYTES = 63;

const nameRules = (what: string): NameRules => ({
  what,
  maxLength: MAX_IDENTIFIER_BYTES, // ASCII only, so characters are bytes
  pattern: /^[A-Za-z_][A-Za-z0-9_$-]*$/,
  patternHint: 'letters, digits, "_", "$" and "-", starting with a letter or "_"',
  reserved: RESERVED_NAMES,
});
const USER_RULES = nameRules('user name');
const DATABASE_RULES = nameRules('database name');

/** Encoding names as pg_encoding spells them (UTF8, LATIN1, EUC_JP, WIN1252; "UTF-8" is an accepted alias). */
const ENCODING_RULES: NameRules = {
  what: 'encoding',
  maxLength: 32,
  pattern: /^[A-Za-z0-9][A-Za-z0-9_-]*$/,
  patternHint: 'letters, digits, "_" and "-"',
};
/** libc locale names: language_TERRITORY.codeset@modifier, or C / POSIX. */
const LOCALE_RULES: NameRules = {
  what: 'locale',
  maxLength: 63,
  pattern: /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/,
  patternHint: 'a locale name such as C, POSIX, C.UTF-8 or en_US.UTF-8',
};

export const PASSWORD_RULES = { minLength: 1, maxLength: 128 };

function checkPgName(value: unknown, field: string, rules: NameRules): string {
  const name = checkName(value, field, rules);
  if (name.toLowerCase().startsWith(RESERVED_PREFIX)) {
    throw invalidArgument(field, `${rules.what} ${describeValue(name)} is reserved: names starting with "${RESERVED_PREFIX}" belong to PostgreSQL`);
  }
  return name;
}

export const checkUserName = (name: unknown, field: string): string => checkPgName(name, field, USER_RULES);
export const checkDatabaseName = (name: unknown, field: string): string => checkPgName(name, field, DATABASE_RULES);
export const checkEncoding = (name: unknown, field: string): string => checkName(name, field, ENCODING_RULES);
export const checkLocale = (name: unknown, field: string): string => checkName(name, field, LOCALE_RULES);
export const checkPasswordValue = (password: unknown, field: string): string => checkPassword(password, field, PASSWORD_RULES);

/**
 * PostgreSQL roles are not bound to a client host (pg_hba.conf decides that for
 * everyone). Empty or "%" (any host, what every role gets) are accepted; any
 * other pattern is refused rather than ignored, so nobody believes a user is
 * restricted to a network when it is not.
 */
export function checkHost(host: unknown, field: string): string {
  const h = checkString(host ?? '', field);
  if (h !== '' && h !== '%') {
    throw invalidArgument(field, 'PostgreSQL users are not bound to a host: leave host empty (or "%")');
  }
  return '';
}

/** The item rules (each entry on its own); validatorOf adds the list and prepare rules. */
export const pgRules: ItemRules = {
  words: { user: 'user', database: 'database' },
  databaseName(name, field) {
    checkDatabaseName(name, field);
  },
  database(db: Database, field) {
    if (!db || typeof db !== 'object') throw invalidArgument(field, 'must be a database');
    checkDatabaseName(db.name, `${field}.name`);
    if (db.characterSet) checkEncoding(db.characterSet, `${field}.character_set`);
    if (db.collation) checkLocale(db.collation, `${field}.collation`);
    if (db.ctype) checkLocale(db.ctype, `${field}.ctype`);
    if (db.replication && Object.keys(db.replication).length > 0) {
      throw invalidArgument(`${field}.replication`, 'replication factors apply to Cassandra keyspaces, not PostgreSQL databases');
    }
  },
  userRef(ref: UserRef, field) {
    if (!ref || typeof ref !== 'object') throw invalidArgument(field, 'must be a user reference');
    checkUserName(ref.name, `${field}.name`);
    checkHost(ref.host, `${field}.host`);
  },
  user(user: User, field) {
    if (!user || typeof user !== 'object') throw invalidArgument(field, 'must be a user');
    checkUserName(user.name, `${field}.name`);
    checkHost(user.host, `${field}.host`);
    checkPasswordValue(user.password, `${field}.password`);
    if (user.permissions)
      throw invalidArgument(`${field}.permissions`, 'permission strings apply to Redis ACL users; PostgreSQL users get access per database');
    checkAccessList(user.access, `${field}.access`, checkDatabaseName);
  },
  userKey: (u) => u.name,
  password(password, field) {
    checkPasswordValue(password, field);
  },
  page: (page) => void pageMarker(page),
  parameters: postgresqlParameters,
};

export const pgValidator: Validator = validatorOf(pgRules);
