// What a Cassandra backup holds, written as the first member of its tar:
// the keyspaces (replication, durable writes) and their tables with ids. The
// tar keeps the server's own layout, <keyspace>/<table>-<id>/snapshots/<tag>/,
// so a path is derived from validated names, never read from the archive.
import { failedPrecondition } from '../sdk/errors.js';
import { checkKeyspaceName } from './validation.js';

export const MANIFEST_FILE = 'steward-backup.json';
export const MANIFEST_FORMAT = 'steward-cassandra-snapshot/1';

export interface SnapshotTable {
  name: string;
  /** The table id (a UUID): also the suffix of its directory, and kept by schema.cql's WITH ID. */
  id: string;
}

export interface SnapshotKeyspace {
  name: string;
  /** system_schema.keyspaces.replication as recorded (the restore sizes it for the node it lands on). */
  replication: Record<string, string>;
  durableWrites: boolean;
  tables: SnapshotTable[];
}

export interface BackupManifest {
  format: string;
  backupId: string;
  snapshotTag: string;
  cassandraVersion: string;
  dataCenter: string;
  keyspaces: SnapshotKeyspace[];
}

/** Table names as CQL allows them (letters, digits, "_"); they become directory names. */
const TABLE = /^[A-Za-z0-9_]{1,222}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TAG = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Our snapshots are recognisable by their tag, so leftovers of an interrupted backup can be found and cleared. */
export const TAG_PREFIX = 'steward-';
export const snapshotTag = (backupId: string): string => `${TAG_PREFIX}${backupId}`;

/** A table's directory below the data directory, as the server names it. */
export const tableDir = (keyspace: string, t: SnapshotTable): string => `${keyspace}/${t.name}-${t.id.replaceAll('-', '')}`;

export const snapshotDir = (keyspace: string, t: SnapshotTable, tag: string): string => `${tableDir(keyspace, t)}/snapshots/${tag}`;

const bad = (what: string): Error => failedPrecondition(`the backup's ${MANIFEST_FILE} is not one this agent wrote: ${what}`);

/** Parses and checks a manifest: every name that later reaches a path or CQL is validated here. */
export function parseManifest(text: string): BackupManifest {
  let m: BackupManifest;
  try {
    m = JSON.parse(text) as BackupManifest;
  } catch {
    throw bad('not JSON');
  }
  if (m?.format !== MANIFEST_FORMAT) throw bad(`format ${JSON.stringify(m?.format)}, expected ${MANIFEST_FORMAT}`);
  if (!TAG.test(String(m.snapshotTag))) throw bad('bad snapshot tag');
  if (!Array.isArray(m.keyspaces)) throw bad('no keyspace list');
  const seen = new Set<string>();
  for (const ks of m.keyspaces) {
    try {
      checkKeyspaceName(ks?.name, 'keyspace');
    } catch {
      throw bad(`keyspace name ${JSON.stringify(ks?.name)}`);
    }
    if (seen.has(ks.name)) throw bad(`keyspace ${ks.name} listed twice`);
    seen.add(ks.name);
    if (typeof ks.durableWrites !== 'boolean' || typeof ks.replication !== 'object' || !Array.isArray(ks.tables)) throw bad(`keyspace ${ks.name}`);
    for (const t of ks.tables) {
      if (!TABLE.test(String(t?.name)) || !UUID.test(String(t?.id))) throw bad(`table ${JSON.stringify(t)} in ${ks.name}`);
    }
  }
  return m;
}

/** The facts recorded with the backup: what it holds and where it came from. */
export function manifestFacts(m: BackupManifest): Record<string, string> {
  return {
    cassandra_version: m.cassandraVersion,
    data_center: m.dataCenter,
    snapshot_tag: m.snapshotTag,
    keyspaces: m.keyspaces.map((k) => k.name).join(','),
    tables: m.keyspaces.flatMap((k) => k.tables.map((t) => `${k.name}.${t.name}`)).join(','),
  };
}
