// Databases. Every one is created from template0 (clean, and the only
// template that accepts a different encoding or locale) with nothing granted
// to PUBLIC: a user reaches it only once access is granted (grants.ts).
import type { DatabaseOps } from '../sdk/contract.js';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../sdk/errors.js';
import { quotePgIdent } from '../sdk/identifiers.js';
import type { Database, DatabaseList, Page } from '../sdk/types.js';
import { escapeLiteral } from 'pg';
import { exec, select, type OpenSessions, type Session } from './connection.js';
import { pageLimit, pageMarker } from './paging.js';
import { RESERVED_DATABASES, RESERVED_PREFIX } from './validation.js';

export const RESERVED_PATTERN = `${RESERVED_PREFIX.replace('_', '\\_')}%`;

/** Encodings PostgreSQL accepts from clients but cannot store (PG_VALID_BE_ENCODING is false for them). */
const CLIENT_ONLY_ENCODINGS = new Set(['SJIS', 'SHIFT_JIS_2004', 'BIG5', 'GBK', 'UHC', 'GB18030', 'JOHAB']);
/** pg_encoding id of SQL_ASCII, which goes with any locale (for a superuser, which the agent is). */
const SQL_ASCII = 0;

export async function databaseExists(s: Session, name: string): Promise<boolean> {
  return (await select(s, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length > 0;
}

interface Encoding {
  id: number;
  name: string;
}

interface Locale {
  /** The name the server knows it by (pg_collation.collcollate). */
  name: string;
  /** The encodings it works with; -1 (C and POSIX) means any. */
  encodings: number[];
}

/** A server encoding by any name pg_encoding accepts; INVALID_ARGUMENT naming `field` otherwise. */
async function serverEncoding(s: Session, name: string, field: string): Promise<Encoding> {
  const [row] = await select<{ id: number; canonical: string }>(
    s,
    'SELECT pg_char_to_encoding($1) AS id, pg_encoding_to_char(pg_char_to_encoding($1)) AS canonical',
    [name],
  );
  if (row.id < 0) throw invalidArgument(field, `unknown encoding '${name}'`);
  if (CLIENT_ONLY_ENCODINGS.has(row.canonical)) throw invalidArgument(field, `'${row.canonical}' is a client-only encoding; a database cannot use it`);
  return { id: row.id, name: row.canonical };
}

/** glibc's spelling-insensitive form of a locale's codeset: en_US.UTF-8 and en_US.utf8 are one locale. */
export const normaliseLocale = (name: string): string => {
  const m = /^([^.@]*)(?:\.([^@]*))?(@.*)?$/.exec(name);
  if (!m) return name;
  const codeset = m[2] === undefined ? '' : `.${m[2].toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  return `${m[1]}${codeset}${m[3] ?? ''}`;
};

/**
 * The operating system locales the server found at initdb (pg_collation's
 * libc entries), by name or spelling variant; INVALID_ARGUMENT naming `field`
 * for one the server does not have.
 */
async function serverLocale(s: Session, name: string, field: string): Promise<Locale> {
  // One locale may have several entries (C is both "C", for any encoding, and "ucs_basic", for UTF8).
  const rows = await select<{ name: string; encodings: number[] }>(
    s,
    `SELECT collcollate AS name, array_agg(DISTINCT collencoding) AS encodings FROM pg_collation
      WHERE collprovider = 'c' AND collcollate IS NOT NULL GROUP BY collcollate`,
  );
  const found = rows.find((r) => r.name === name) ?? rows.find((r) => normaliseLocale(r.name) === normaliseLocale(name));
  if (!found) throw invalidArgument(field, `locale '${name}' is not available on this server`);
  return found;
}

const suits = (locale: Locale, encoding: Encoding): boolean => encoding.id === SQL_ASCII || locale.encodings.some((e) => e === -1 || e === encoding.id);

interface Plan {
  name: string;
  encoding?: string;
  collate?: string;
  ctype?: string;
}

/**
 * Checks a database's encoding and locales against the server and returns
 * what to create. A collation without a ctype (or the reverse) means both,
 * as PostgreSQL's own LOCALE option does; neither means template0's.
 */
async function plan(s: Session, db: Database, field: string): Promise<Plan> {
  const [template] = await select<{ encoding: number; enc: string; collate: string; ctype: string }>(
    s,
    "SELECT encoding, pg_encoding_to_char(encoding) AS enc, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = 'template0'",
  );
  const encoding = db.characterSet ? await serverEncoding(s, db.characterSet, `${field}.character_set`) : { id: template.encoding, name: template.enc };
  const collateName = db.collation || db.ctype;
  const ctypeName = db.ctype || db.collation;
  const collate = collateName ? await serverLocale(s, collateName, db.collation ? `${field}.collation` : `${field}.ctype`) : undefined;
  const ctype = ctypeName ? await serverLocale(s, ctypeName, db.ctype ? `${field}.ctype` : `${field}.collation`) : undefined;
  if (collate && !suits(collate, encoding)) {
    throw invalidArgument(`${field}.collation`, `locale '${collate.name}' does not work with encoding ${encoding.name}`);
  }
  if (ctype && !suits(ctype, encoding)) {
    throw invalidArgument(`${field}.ctype`, `locale '${ctype.name}' does not work with encoding ${encoding.name}`);
  }
  if (!collate && db.characterSet) {
    const fallback = await serverLocale(s, template.ctype, `${field}.character_set`).catch(() => undefined);
    if (fallback && !suits(fallback, encoding)) {
      throw invalidArgument(
        `${field}.character_set`,
        `encoding ${encoding.name} does not work with the default locale '${template.ctype}': give a collation that does (C works with every encoding)`,
      );
    }
  }
  return { name: db.name, encoding: db.characterSet ? encoding.name : undefined, collate: collate?.name, ctype: ctype?.name };
}

export async function createDatabases(s: Session, dbs: readonly Database[]): Promise<void> {
  const plans: Plan[] = [];
  for (const [i, db] of dbs.entries()) {
    if (await databaseExists(s, db.name)) throw alreadyExists(`database '${db.name}' already exists (databases[${i}])`);
    plans.push(await plan(s, db, `databases[${i}]`));
  }
  const created: string[] = [];
  try {
    for (const p of plans) {
      // CREATE DATABASE takes no parameters: the values were checked against
      // the server above and go in as quoted literals.
      const options = [
        'TEMPLATE template0',
        p.encoding ? `ENCODING ${escapeLiteral(p.encoding)}` : '',
        p.collate ? `LC_COLLATE ${escapeLiteral(p.collate)}` : '',
        p.ctype ? `LC_CTYPE ${escapeLiteral(p.ctype)}` : '',
      ].filter(Boolean);
      await exec(s, `CREATE DATABASE ${quotePgIdent(p.name)} ${options.join(' ')}`);
      created.push(p.name);
      await exec(s, `REVOKE ALL ON DATABASE ${quotePgIdent(p.name)} FROM PUBLIC`);
    }
  } catch (err) {
    // Only databases created just now, hence empty: safe to drop to keep the request all or nothing.
    for (const name of created) await exec(s, `DROP DATABASE IF EXISTS ${quotePgIdent(name)} WITH (FORCE)`).catch(() => undefined);
    throw err;
  }
}

export async function listDatabases(s: Session, page: Page): Promise<DatabaseList> {
  const limit = pageLimit(page);
  const marker = pageMarker(page);
  const rows = await select<{ name: string; encoding: string; collate: string; ctype: string }>(
    s,
    `SELECT datname AS name, pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
       FROM pg_database
      WHERE lower(datname) <> ALL($1::text[]) AND lower(datname) NOT LIKE $2
        AND datname::text COLLATE "C" > $3::text
      ORDER BY datname::text COLLATE "C" LIMIT $4`,
    [RESERVED_DATABASES, RESERVED_PATTERN, marker, limit + 1],
  );
  const pageRows = rows.slice(0, limit);
  return {
    databases: pageRows.map((r) => ({ name: r.name, characterSet: r.encoding, collation: r.collate, ctype: r.ctype, replication: {} })),
    nextMarker: rows.length > limit ? pageRows.at(-1)!.name : '',
  };
}

/** Client sessions open on `db` (autovacuum workers do not count: DROP DATABASE ends those itself). */
export async function liveConnections(s: Session, db: string): Promise<number> {
  const [{ n }] = await select<{ n: number }>(
    s,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    [db],
  );
  return n;
}

/**
 * Drops a database. With live connections it refuses, naming how many, unless
 * `force` is set: then PostgreSQL ends them itself (WITH (FORCE)). Its grants
 * go with it: a new database of the same name starts with none.
 */
export async function deleteDatabase(s: Session, name: string, force = false): Promise<void> {
  if (!(await databaseExists(s, name))) throw notFound(`database '${name}' does not exist`);
  if (!force) {
    const n = await liveConnections(s, name);
    if (n > 0) {
      throw failedPrecondition(`database '${name}' has ${n} live connection${n === 1 ? '' : 's'}; close ${n === 1 ? 'it' : 'them'} or delete with force`);
    }
  }
  // A session opened between the count and the drop still makes PostgreSQL refuse (FAILED_PRECONDITION as well).
  await exec(s, `DROP DATABASE ${quotePgIdent(name)}${force ? ' WITH (FORCE)' : ''}`);
}

export function databaseOps(open: OpenSessions): DatabaseOps {
  return {
    create: (dbs, op) => open(op.signal)((s) => createDatabases(s, dbs)),
    list: (page, op) => open(op.signal)((s) => listDatabases(s, page)),
    delete: (name, op, options) => open(op.signal)((s) => deleteDatabase(s, name, options?.force ?? false)),
  };
}
