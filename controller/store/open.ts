// Opens the store and brings its schema up to date. SQLite by default (one
// file, zero set-up); the dialect is the only thing that changes for PostgreSQL.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase } from 'kysely';
import type { DB } from './schema.js';
import { migrationProvider } from './migrations.js';

export type Store = Kysely<DB>;

export async function openSqliteStore(path: string): Promise<Store> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) throw new Error(`store migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  return db;
}

/**
 * The database as Kysely sees it, with its prepared statements kept (least
 * recently used dropped past `size`): Kysely prepares every query afresh, and
 * preparing costs more than running the point queries the controller makes.
 * Safe to share: Kysely holds one connection at a time, so no statement is
 * used by two queries at once.
 */
function withStatementCache(db: Database.Database, size = 512): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string) {
      let statement = cache.get(sql);
      if (statement) cache.delete(sql);
      else statement = db.prepare(sql);
      cache.set(sql, statement);
      if (cache.size > size) cache.delete(cache.keys().next().value!);
      return statement;
    },
  };
}
