// Databases (schemas). information_schema compares names case-insensitively,
// while on Linux `App` and `app` are different databases: name comparisons
// here are made on the bytes.
import type { DatabaseOps } from '../sdk/contract.js';
import { alreadyExists, invalidArgument, notFound } from '../sdk/errors.js';
import { quoteMysqlIdent } from '../sdk/identifiers.js';
import { pageLimit, pageMarker } from '../sdk/paging.js';
import type { Database, DatabaseList, Page } from '../sdk/types.js';
import { exec, select, type Session, type SessionRunner } from './connection.js';
import { grantees, revokeAll } from './grants.js';
import { RESERVED_DATABASES } from './validation.js';

export async function databaseExists(s: Session, name: string): Promise<boolean> {
  const rows = await select(s, 'SELECT 1 FROM information_schema.SCHEMATA WHERE CAST(SCHEMA_NAME AS BINARY) = CAST(? AS BINARY)', [name]);
  return rows.length > 0;
}

/** The names are well-formed already; this asks the server whether it knows them. */
async function checkCharsetAndCollation(s: Session, db: Database, field: string): Promise<void> {
  if (db.characterSet) {
    const known = await select(s, 'SELECT 1 FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME = ?', [db.characterSet]);
    if (!known.length) throw invalidArgument(`${field}.character_set`, `unknown character set '${db.characterSet}'`);
  }
  if (db.collation) {
    const sets = await select<{ cs: string }>(
      s,
      'SELECT CHARACTER_SET_NAME AS cs FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE COLLATION_NAME = ?',
      [db.collation],
    );
    if (!sets.length) throw invalidArgument(`${field}.collation`, `unknown collation '${db.collation}'`);
    if (db.characterSet && !sets.some((r) => r.cs.toLowerCase() === db.characterSet)) {
      throw invalidArgument(`${field}.collation`, `collation '${db.collation}' does not apply to character set '${db.characterSet}'`);
    }
  }
}

export async function createDatabases(s: Session, dbs: readonly Database[]): Promise<void> {
  for (const [i, db] of dbs.entries()) {
    if (await databaseExists(s, db.name)) throw alreadyExists(`database '${db.name}' already exists (databases[${i}])`);
    await checkCharsetAndCollation(s, db, `databases[${i}]`);
  }
  const created: string[] = [];
  try {
    for (const db of dbs) {
      // Character set and collation names may be string literals in this grammar, so they go as parameters.
      const cs = db.characterSet ? ' CHARACTER SET ?' : '';
      const co = db.collation ? ' COLLATE ?' : '';
      const params = [db.characterSet, db.collation].filter((v) => !!v);
      await exec(s, `CREATE DATABASE ${quoteMysqlIdent(db.name)}${cs}${co}`, params);
      created.push(db.name);
    }
  } catch (err) {
    // Only databases created just now, hence empty: safe to drop to keep the request all or nothing.
    for (const name of created) await exec(s, `DROP DATABASE IF EXISTS ${quoteMysqlIdent(name)}`).catch(() => undefined);
    throw err;
  }
}

export async function listDatabases(s: Session, page: Page): Promise<DatabaseList> {
  const limit = pageLimit(page);
  // Markers are database names (at most 64 characters), only ever a query parameter.
  const marker = pageMarker(page, 64);
  const rows = await select<{ name: string; cs: string; co: string }>(
    s,
    `SELECT SCHEMA_NAME AS name, DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co
       FROM information_schema.SCHEMATA
      WHERE SCHEMA_NAME NOT IN (?) AND SCHEMA_NAME NOT LIKE '#mysql50#%'
        AND CAST(SCHEMA_NAME AS BINARY) > CAST(? AS BINARY)
      ORDER BY CAST(SCHEMA_NAME AS BINARY) LIMIT ?`,
    [RESERVED_DATABASES, marker, limit + 1],
  );
  const pageRows = rows.slice(0, limit);
  return {
    databases: pageRows.map((r) => ({ name: r.name, characterSet: r.cs, collation: r.co, ctype: '', replication: {} })),
    nextMarker: rows.length > limit ? pageRows.at(-1)!.name : '',
  };
}

export async function deleteDatabase(s: Session, name: string): Promise<void> {
  if (!(await databaseExists(s, name))) throw notFound(`database '${name}' does not exist`);
  const holders = await grantees(s, name);
  await exec(s, `DROP DATABASE ${quoteMysqlIdent(name)}`);
  // MySQL keeps grants on a dropped database; a new database of the same name
  // would silently hand them to their old holders.
  for (const h of holders) await revokeAll(s, name, h.user, h.host);
}

export function databaseOps(session: SessionRunner): DatabaseOps {
  return {
    create: (dbs, op) => session((s) => createDatabases(s, dbs), op.signal),
    list: (page, op) => session((s) => listDatabases(s, page), op.signal),
    delete: (name, op) => session((s) => deleteDatabase(s, name), op.signal),
  };
}
