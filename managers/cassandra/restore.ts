// Restoring a Cassandra backup is part of prepare (prepare.ts), in three steps:
//   1. fetch: download the stored object to staging and verify size + sha256
//      (and unwrap its key) before anything else happens: a corrupt backup
//      stops prepare before the data directory is touched;
//   2. unpack: decrypt/decompress into tar, into a directory beside the
//      server's data files (same file system: `nodetool import` moves files);
//   3. load, once the fresh node is started and secured: re-create each
//      keyspace, replay each table's schema.cql (which keeps the table's id),
//      and `nodetool import` its sstables.
// Roles are not restored: system_auth is not in the backup, so the node keeps
// its own admin role, and the source's roles and grants are to be re-created.
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { StewardError, failedPrecondition } from '../sdk/errors.js';
import { logTail } from '../sdk/log-tail.js';
import type { OsUser } from '../sdk/os-user.js';
import { feedStage, spawnStage } from '../sdk/backup/child-stream.js';
import type { FetchedBackup } from '../sdk/backup/fetch-chain.js';
import { checkChain } from '../sdk/backup/strategy.js';
import type { RestoreBackupCommand } from '../sdk/backup/types.js';
import { unpackCommand } from './archive.js';
import { MANIFEST_FILE, parseManifest, snapshotDir, type BackupManifest, type SnapshotKeyspace } from './backup-manifest.js';
import type { Session } from './connection.js';
import { checkSchemaStatement, splitCql } from './cql-script.js';
import { DATASTORE } from './backup.js';
import { keyspaceExists } from './keyspaces.js';
import { defaultReplication, readTopology, replicationLiteral } from './topology.js';
import { quoteCqlIdent } from './validation.js';

/** Importing verifies every sstable: bounded by the operation's deadline rather than by a guess here. */
const IMPORT_TIMEOUT_MS = 6 * 3600_000;

/** A restore takes exactly one full backup of this datastore; anything else is refused before anything is touched. */
export function checkRestoreChain(r: RestoreBackupCommand): void {
  checkChain(r, DATASTORE);
  if (r.chain.length > 1) throw failedPrecondition('Cassandra backups are full only: a restore takes exactly one backup');
}

export interface UnpackedBackup {
  dir: string;
  manifest: BackupManifest;
}

/** Step 2: the snapshot's files in `dest`, owned by the server's user (it moves them on import). */
export async function unpackBackup(
  ctx: ManagerContext,
  f: FetchedBackup,
  dest: string,
  owner: OsUser | undefined,
  op: OperationScope,
): Promise<UnpackedBackup> {
  const { signal } = op;
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true, mode: 0o700 });
  op.progress(10, `unpacking ${f.artifact.backupId}`);
  const tar = spawnStage(unpackCommand(dest), signal, { stdin: true });
  await feedStage(tar, [f.open()], signal);
  await rm(f.file); // the disk it took is needed for the import
  const manifest = parseManifest(await readFile(join(dest, MANIFEST_FILE), 'utf8'));
  if (manifest.backupId !== f.artifact.backupId) {
    throw failedPrecondition(`backup ${f.artifact.backupId} holds the snapshot of another backup (${manifest.backupId})`);
  }
  if (owner) await ctx.runner('chown', ['-R', `${owner.uid}:${owner.gid}`, dest], { signal, timeoutMs: IMPORT_TIMEOUT_MS });
  op.progress(100, `unpacked ${manifest.keyspaces.length} keyspace(s)`);
  return { dir: dest, manifest };
}

/** Major version of a release ("5.0.9" -> 5). */
const major = (version: string): number => Number(/^(\d+)\./.exec(version)?.[1] ?? NaN);

async function createSchema(s: Session, dir: string, ks: SnapshotKeyspace, tag: string): Promise<void> {
  if (await keyspaceExists(s, ks.name)) throw failedPrecondition(`keyspace ${ks.name} already exists on this node`);
  // The recorded replication may name data centers or replica counts this lone node does not have.
  const replication = defaultReplication(await readTopology(s));
  await s.exec(`CREATE KEYSPACE ${quoteCqlIdent(ks.name)} WITH replication = ${replicationLiteral(replication)} AND durable_writes = ${ks.durableWrites}`);
  for (const t of ks.tables) {
    const text = await readFile(join(dir, snapshotDir(ks.name, t, tag), 'schema.cql'), 'utf8');
    const statements = splitCql(text);
    statements.forEach((stmt) => checkSchemaStatement(stmt, ks.name));
    for (const stmt of statements) await s.exec(stmt);
  }
}

export interface LoadDeps {
  session<T>(fn: (s: Session) => Promise<T>, signal: AbortSignal): Promise<T>;
  nodetool(args: string[], signal: AbortSignal, timeoutMs?: number): Promise<string>;
  /** The server's log: nodetool import only says "check server logs" when an sstable is refused. */
  systemLog: string;
}

/** Step 3, on the running, secured node: schema, then each table's sstables. */
export async function loadBackup(deps: LoadDeps, u: UnpackedBackup, op: OperationScope): Promise<void> {
  const { signal } = op;
  const m = u.manifest;
  const tables = m.keyspaces.flatMap((k) => k.tables.map((t) => ({ ks: k.name, t })));
  op.progress(5, `re-creating ${m.keyspaces.length} keyspace(s) and ${tables.length} table(s)`);
  await deps.session(async (s) => {
    const [local] = await s.rows('SELECT release_version FROM system.local');
    const here = String(local?.release_version ?? '');
    // A node reads the sstable formats of its own major version and older ones, never a newer one's.
    if (major(m.cassandraVersion) > major(here)) {
      throw failedPrecondition(`backup ${m.backupId} is of Cassandra ${m.cassandraVersion}; this node runs ${here}`);
    }
    for (const ks of m.keyspaces) await createSchema(s, u.dir, ks, m.snapshotTag);
  }, signal);
  for (const [i, { ks, t }] of tables.entries()) {
    const dir = join(u.dir, snapshotDir(ks, t, m.snapshotTag));
    // A table that was empty at the snapshot has only schema.cql and manifest.json: nothing to import.
    if (!(await readdir(dir)).some((f) => f.endsWith('-Data.db'))) continue;
    op.progress(20 + (75 * i) / tables.length, `importing ${ks}.${t.name}`);
    await deps.nodetool(['import', '--', ks, t.name, dir], signal, IMPORT_TIMEOUT_MS).catch(async (err: StewardError) => {
      if (signal.aborted) throw err;
      const tail = await logTail(deps.systemLog, 6);
      throw new StewardError(err.code ?? 'INTERNAL', `importing ${ks}.${t.name} failed: ${err.message}${tail ? `\n${tail}` : ''}`);
    });
  }
  op.progress(100, `restored ${tables.length} table(s) from ${m.backupId}`);
}
