// The node's side of a backup: which keyspaces and tables are the user's, the
// snapshot directories `nodetool snapshot` leaves (hard links to sstables that
// never change, plus the schema.cql and manifest.json the server writes), and
// the snapshots an interrupted backup left behind.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Session } from './connection.js';
import { TAG_PREFIX, snapshotDir, type SnapshotKeyspace, type SnapshotTable } from './backup-manifest.js';

/** Cassandra's own keyspaces all start with "system"; user keyspaces cannot (validation.ts). */
const isSystem = (keyspace: string): boolean => keyspace.toLowerCase().startsWith('system');

export interface UserSchema {
  cassandraVersion: string;
  dataCenter: string;
  keyspaces: SnapshotKeyspace[];
}

/**
 * The user keyspaces and their tables, sorted by name. Materialized views
 * (off in the rendered cassandra.yaml) are in system_schema.views, not here:
 * they are not part of a backup.
 */
export async function readUserSchema(s: Session): Promise<UserSchema> {
  const [local] = await s.rows('SELECT release_version, data_center FROM system.local');
  const keyspaces = new Map<string, SnapshotKeyspace>();
  for (const r of await s.rows('SELECT keyspace_name, replication, durable_writes FROM system_schema.keyspaces')) {
    const name = String(r.keyspace_name);
    if (isSystem(name)) continue;
    keyspaces.set(name, { name, replication: { ...(r.replication as Record<string, string>) }, durableWrites: r.durable_writes !== false, tables: [] });
  }
  for (const r of await s.rows('SELECT keyspace_name, table_name, id FROM system_schema.tables')) {
    keyspaces.get(String(r.keyspace_name))?.tables.push({ name: String(r.table_name), id: String(r.id) });
  }
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const list = [...keyspaces.values()].sort(byName);
  for (const k of list) k.tables.sort(byName);
  return { cassandraVersion: String(local?.release_version ?? ''), dataCenter: String(local?.data_center ?? ''), keyspaces: list };
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * The keyspaces with only the tables the snapshot has a directory for: a table
 * dropped between the schema read and the snapshot has none.
 */
export async function snapshotted(dataFiles: string, keyspaces: SnapshotKeyspace[], tag: string): Promise<SnapshotKeyspace[]> {
  const out: SnapshotKeyspace[] = [];
  for (const k of keyspaces) {
    const tables: SnapshotTable[] = [];
    for (const t of k.tables) if (await exists(join(dataFiles, snapshotDir(k.name, t, tag)))) tables.push(t);
    out.push({ ...k, tables });
  }
  return out;
}

/** Bytes in the snapshot directories: what tar will read, for a progress estimate. */
export async function snapshotBytes(dataFiles: string, keyspaces: SnapshotKeyspace[], tag: string): Promise<number> {
  let total = 0;
  for (const k of keyspaces) {
    for (const t of k.tables) {
      const dir = join(dataFiles, snapshotDir(k.name, t, tag));
      for (const f of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (f.isFile()) total += (await stat(join(dir, f.name)).catch(() => ({ size: 0 }))).size;
      }
    }
  }
  return total;
}

/**
 * Tags of our snapshots still on disk. Backups run one at a time, so any of
 * them is from a backup that a crash or kill cut short before it could clear
 * its snapshot: hard links that would pin old sstables on disk for ever.
 */
export async function leftoverTags(dataFiles: string): Promise<string[]> {
  const tags = new Set<string>();
  for (const ks of await readdir(dataFiles).catch(() => [] as string[])) {
    if (isSystem(ks)) continue;
    for (const table of await readdir(join(dataFiles, ks)).catch(() => [] as string[])) {
      for (const tag of await readdir(join(dataFiles, ks, table, 'snapshots')).catch(() => [] as string[])) {
        if (tag.startsWith(TAG_PREFIX)) tags.add(tag);
      }
    }
  }
  return [...tags].sort();
}
