// Cassandra input rules, shared by the controller (before it sends anything)
// and the agent (again, before it touches the server). Role and keyspace names
// end up double-quoted inside CQL, where nothing can be a bind marker: the
// patterns here are what keeps them inert, quoting is the second line.
import { isIP } from 'node:net';
import { invalidArgument } from '../sdk/errors.js';
import { checkName, checkPassword, checkString, checkUnique, describeValue } from '../sdk/identifiers.js';
import type { Validator } from '../sdk/contract.js';
import type { Database, PrepareRequest, User, UserRef } from '../sdk/types.js';
import { validatorOf, type ItemRules } from '../sdk/validator.js';
import { pageMarker } from './paging.js';
import { cassandraParameters } from './parameters.js';

/** The role the agent manages the server with, unless a cluster hands it another name. */
export const ADMIN_ROLE = 'steward_admin';
/** Cassandra's built-in superuser: only used to create the admin role, then disabled. */
export const DEFAULT_ROLE = 'cassandra';
export const DEFAULT_PASSWORD = 'cassandra';
/** The superuser "enable root" creates. */
export const ROOT_ROLE = 'root';

/** Never created, changed, listed or dropped through the users API. */
export const RESERVED_ROLES: readonly string[] = [DEFAULT_ROLE, ADMIN_ROLE, ROOT_ROLE];

/** Cassandra's own keyspaces all start with "system" (system, system_auth, system_schema, ...). */
const SYSTEM_PREFIX = 'system';

/** SchemaConstants.NAME_LENGTH: the server refuses longer keyspace names. */
export const MAX_KEYSPACE_LENGTH = 48;
export const MAX_REPLICATION_FACTOR = 10;

const ROLE_RULES = {
  what: 'role name',
  maxLength: 64,
  pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
  patternHint: 'letters, digits, "_", "." and "-", not starting with "." or "-"',
  reserved: RESERVED_ROLES,
};

const KEYSPACE_RULES = {
  what: 'keyspace name',
  maxLength: MAX_KEYSPACE_LENGTH,
  pattern: /^[A-Za-z0-9_]+$/,
  patternHint: 'letters, digits and "_"',
};

/** Data center and rack names go into cassandra-rackdc.properties and CQL string literals. */
const TOPOLOGY_RULES = {
  maxLength: 48,
  pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
  patternHint: 'letters, digits, "_", "." and "-", starting with a letter or digit',
};

const CLUSTER_NAME_RULES = {
  what: 'cluster name',
  maxLength: 64,
  pattern: /^[A-Za-z0-9][A-Za-z0-9 _.-]*$/,
  patternHint: 'letters, digits, spaces, "_", "." and "-", starting with a letter or digit',
};

/** Printable ASCII only; single quotes are doubled when the password is written into CQL. */
export const PASSWORD_RULES = { minLength: 1, maxLength: 256 };

export function checkRoleName(name: unknown, field: string): string {
  return checkName(name, field, ROLE_RULES);
}

/** A role name that may also be a reserved one (the admin role a cluster hands over). */
export function checkAnyRoleName(name: unknown, field: string): string {
  return checkName(name, field, { ...ROLE_RULES, reserved: [] });
}

export function checkKeyspaceName(name: unknown, field: string): string {
  const ks = checkName(name, field, KEYSPACE_RULES);
  if (ks.toLowerCase().startsWith(SYSTEM_PREFIX)) {
    throw invalidArgument(field, `keyspace name ${describeValue(ks)} is reserved: names starting with "system" belong to Cassandra`);
  }
  return ks;
}

export function checkDataCenter(name: unknown, field: string): string {
  return checkName(name, field, { ...TOPOLOGY_RULES, what: 'data center name' });
}

export function checkRack(name: unknown, field: string): string {
  return checkName(name, field, { ...TOPOLOGY_RULES, what: 'rack name' });
}

export function checkClusterName(name: unknown, field: string): string {
  return checkName(name, field, CLUSTER_NAME_RULES);
}

export function checkPasswordValue(password: unknown, field: string): string {
  return checkPassword(password, field, PASSWORD_RULES);
}

/** Cassandra roles have no host: empty, or "%" (any host) for clients that always send one. */
export function checkNoHost(host: unknown, field: string): void {
  const h = checkString(host ?? '', field);
  if (h !== '' && h !== '%') throw invalidArgument(field, 'Cassandra roles have no host restriction: leave it empty');
}

/** Per data center replication factors (NetworkTopologyStrategy); empty means the default. */
export function checkReplication(replication: unknown, field: string): Record<string, number> {
  if (replication === undefined || replication === null) return {};
  if (typeof replication !== 'object' || Array.isArray(replication)) throw invalidArgument(field, 'must be a map of data center to replication factor');
  const out: Record<string, number> = {};
  for (const [dc, rf] of Object.entries(replication as Record<string, unknown>)) {
    checkDataCenter(dc, field);
    if (typeof rf !== 'number' || !Number.isInteger(rf) || rf < 1 || rf > MAX_REPLICATION_FACTOR) {
      throw invalidArgument(`${field}.${dc}`, `replication factor must be a whole number from 1 to ${MAX_REPLICATION_FACTOR}`);
    }
    out[dc] = rf;
  }
  return out;
}

/** A seed: an IP address or a host name, optionally with ":port". */
export function checkSeed(seed: unknown, field: string): string {
  const s = checkString(seed, field);
  if (s.length === 0 || s.length > 255) throw invalidArgument(field, 'seed must be an address or host name (1 to 255 characters)');
  let host = s;
  let port: string | undefined;
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(s);
  if (bracketed) {
    [, host, port] = bracketed;
  } else if (isIP(s) === 6) {
    host = s;
  } else if (s.includes(':')) {
    const at = s.lastIndexOf(':');
    host = s.slice(0, at);
    port = s.slice(at + 1);
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw invalidArgument(field, `seed ${describeValue(s)} has a bad port`);
  }
  const hostname = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  if (!isIP(host) && !hostname.test(host)) throw invalidArgument(field, `seed ${describeValue(s)} is not an IP address or host name`);
  return s;
}

export function checkSeeds(seeds: unknown, field: string): string[] {
  if (!Array.isArray(seeds)) throw invalidArgument(field, 'must be a list');
  if (seeds.length === 0) throw invalidArgument(field, 'must name at least one seed');
  if (seeds.length > 64) throw invalidArgument(field, 'at most 64 seeds');
  seeds.forEach((s, i) => checkSeed(s, `${field}[${i}]`));
  checkUnique(seeds as string[], field, (s) => s.toLowerCase(), 'seed');
  return seeds as string[];
}

/** Admin credentials a cluster hands its members: a role other than the default superuser, with a password. */
export function checkAdminCredentials(user: unknown, password: unknown, userField: string, passwordField: string): void {
  checkAnyRoleName(user, userField);
  if (user === DEFAULT_ROLE) throw invalidArgument(userField, 'the default superuser cannot be the admin role');
  checkPasswordValue(password, passwordField);
}

/** A member's place in its ring, and a restore's refusal to make a member. */
function checkMembership(req: PrepareRequest): void {
  const c = req.cluster;
  if (!c) return;
  if (req.restore) throw invalidArgument('cluster', 'a restore makes a single node: restore it alone, then grow a ring from it');
  if (c.clusterName) checkClusterName(c.clusterName, 'cluster.cluster_name');
  if (c.seeds?.length) checkSeeds(c.seeds, 'cluster.seeds');
  if (c.dataCenter) checkDataCenter(c.dataCenter, 'cluster.data_center');
  if (c.rack) checkRack(c.rack, 'cluster.rack');
  if (!!c.adminUser !== !!c.adminPassword) {
    throw invalidArgument(c.adminUser ? 'cluster.admin_password' : 'cluster.admin_user', 'admin user and password come together');
  }
  if (c.adminUser) checkAdminCredentials(c.adminUser, c.adminPassword, 'cluster.admin_user', 'cluster.admin_password');
  if (((req.databases ?? []).length || (req.users ?? []).length) && !c.secureCluster && !c.adminUser) {
    throw invalidArgument('cluster', 'keyspaces and roles need a secured ring: give the admin credentials or secure_cluster');
  }
}

/** The item rules (each entry on its own); validatorOf adds the list and prepare rules. */
export const cassandraRules: ItemRules = {
  words: { user: 'role', database: 'keyspace' },
  databaseName(name, field) {
    checkKeyspaceName(name, field);
  },
  database(db: Database, field) {
    if (!db || typeof db !== 'object') throw invalidArgument(field, 'must be a keyspace');
    checkKeyspaceName(db.name, `${field}.name`);
    if (db.characterSet) throw invalidArgument(`${field}.character_set`, 'Cassandra keyspaces have no character set');
    if (db.collation) throw invalidArgument(`${field}.collation`, 'Cassandra keyspaces have no collation');
    if (db.ctype) throw invalidArgument(`${field}.ctype`, 'Cassandra keyspaces have no ctype');
    checkReplication(db.replication, `${field}.replication`);
  },
  userRef(ref: UserRef, field) {
    if (!ref || typeof ref !== 'object') throw invalidArgument(field, 'must be a user reference');
    checkRoleName(ref.name, `${field}.name`);
    checkNoHost(ref.host, `${field}.host`);
  },
  user(user: User, field) {
    if (!user || typeof user !== 'object') throw invalidArgument(field, 'must be a user');
    checkRoleName(user.name, `${field}.name`);
    checkNoHost(user.host, `${field}.host`);
    checkPasswordValue(user.password, `${field}.password`);
    if (user.permissions) throw invalidArgument(`${field}.permissions`, 'Cassandra roles take access per keyspace, not a permissions string');
    const access = user.access ?? [];
    if (!Array.isArray(access)) throw invalidArgument(`${field}.access`, 'must be a list');
    access.forEach((a, i) => checkKeyspaceName(a?.database, `${field}.access[${i}].database`));
    checkUnique(access, `${field}.access`, (a) => a.database, 'keyspace');
  },
  // Unquoted CQL folds case, but names are always quoted here: "App" and "app" are two roles.
  userKey: (u) => u.name,
  password(password, field) {
    checkPasswordValue(password, field);
  },
  page: (page) => void pageMarker(page),
  prepareExtras: checkMembership,
  cluster: {
    seeds: (seeds, field) => void checkSeeds(seeds, field),
    adminCredentials: (user, password, field) => checkAdminCredentials(user, password, `${field}.user`, `${field}.password`),
  },
  parameters: cassandraParameters,
};

export const cassandraValidator: Validator = validatorOf(cassandraRules);

export function quoteCqlIdent(name: string): string {
  if (/[\0\r\n]/.test(name)) throw invalidArgument('name', 'contains a control character');
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A CQL string literal. CQL has no bind markers for passwords in CREATE/ALTER
 * ROLE or for replication options, and its literals know only one escape: a
 * doubled single quote (backslashes are plain characters).
 */
export function cqlString(value: string): string {
  if (/[\0\r\n]/.test(value)) throw invalidArgument('value', 'contains a control character');
  return `'${value.replaceAll("'", "''")}'`;
}
