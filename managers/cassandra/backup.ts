// Backups of one Cassandra node: a snapshot of the user keyspaces (nodetool
// snapshot flushes the memtables first, then hard-links every sstable), streamed
// as a tar through the shared pipeline (compression, encryption, checksum,
// storage). Full only: a snapshot is a whole copy, and incremental sstable
// backups would need the agent to track which files each backup already holds.
// The snapshot is always cleared afterwards, whatever happened.
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { spawnStage } from '../sdk/backup/child-stream.js';
import { forget, newDataKey, wrapDataKey } from '../sdk/backup/keys.js';
import { dataKey as dataObject, writeMeta } from '../sdk/backup/layout.js';
import { discardBackup, gatedByExit, saveStream } from '../sdk/backup/pipeline.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { ENCRYPTION } from '../sdk/backup/secretstream.js';
import { openStorage } from '../sdk/backup/storage/open.js';
import { checkBackupCommand } from '../sdk/backup/strategy.js';
import { BackupType, type BackupArtifact, type BackupOps, type CreateBackupCommand, type RestoreBackupCommand } from '../sdk/backup/types.js';
import { packCommand } from './archive.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, manifestFacts, snapshotDir, snapshotTag, type BackupManifest } from './backup-manifest.js';
import type { SessionRunner } from './connection.js';
import type { CassandraPaths } from './paths.js';
import { leftoverTags, readUserSchema, snapshotBytes, snapshotted } from './snapshot.js';

export const DATASTORE = 'cassandra';

/** Flushing and linking a large node's tables takes a while; bounded by the operation's deadline too. */
const SNAPSHOT_TIMEOUT_MS = 60 * 60_000;
const CLEAR_TIMEOUT_MS = 5 * 60_000;

export interface CassandraBackupDeps {
  ctx: ManagerContext;
  paths: CassandraPaths;
  session: SessionRunner;
  nodetool(args: string[], signal: AbortSignal, timeoutMs?: number): Promise<string>;
  /** FAILED_PRECONDITION unless this node is prepared, in its ring and running. */
  requireRunning(): Promise<void>;
  /** Prepares this (new) instance from a backup: see prepare.ts. */
  prepareFrom(restore: RestoreBackupCommand, op: OperationScope): Promise<void>;
}

/** The manager's `backup` (capability "backup", not "backup_incremental"). */
export function cassandraBackupOps(deps: CassandraBackupDeps): BackupOps {
  return {
    incremental: false,
    create: (req, op) => createBackup(deps, req, op),
    // A restore needs the node running (schema first, then sstables), so it is a kind of prepare.
    restore: (req, op) => deps.prepareFrom(req, op),
  };
}

/** Clears a snapshot; a failure is logged, not thrown: it must not hide the backup's own outcome. */
async function clearSnapshot(deps: CassandraBackupDeps, tag: string): Promise<void> {
  // Not the operation's signal: a cancelled backup must still let go of its hard links.
  await deps.nodetool(['clearsnapshot', '-t', tag], AbortSignal.timeout(CLEAR_TIMEOUT_MS), CLEAR_TIMEOUT_MS).catch((err: Error) =>
    deps.ctx.log.warn({ tag, err: err.message }, 'could not clear a backup snapshot; the next backup tries again'),
  );
}

export async function createBackup(deps: CassandraBackupDeps, req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact> {
  const { ctx, paths } = deps;
  const checked = checkBackupCommand(req, { datastore: DATASTORE, instanceId: ctx.instanceId, incrementalSupported: false });
  await deps.requireRunning();
  const storage = openStorage(req.storage);
  const tag = snapshotTag(req.backupId);
  // Mutating operations run one at a time: anything here is from an attempt a kill -9 cut short.
  await rm(join(ctx.stateDir, 'backup-work'), { recursive: true, force: true });
  const work = join(ctx.stateDir, 'backup-work', req.backupId);
  await mkdir(work, { recursive: true, mode: 0o700 });
  const dataKey = newDataKey();
  const createdAt = new Date().toISOString();
  let snapshotTaken = false;
  try {
    for (const old of await leftoverTags(paths.dataFiles)) {
      op.progress(1, `clearing the leftover snapshot ${old}`);
      await clearSnapshot(deps, old);
    }
    const schema = await deps.session(readUserSchema, op.signal);
    const names = schema.keyspaces.map((k) => k.name);
    op.progress(2, names.length ? `snapshot of ${names.join(', ')}` : 'no user keyspaces: the backup holds none');
    if (names.length) {
      // Without keyspaces nodetool would snapshot every keyspace, system ones included.
      snapshotTaken = true;
      await deps.nodetool(['snapshot', '-t', tag, '--', ...names], op.signal, SNAPSHOT_TIMEOUT_MS);
    }
    const manifest: BackupManifest = {
      format: MANIFEST_FORMAT,
      backupId: req.backupId,
      snapshotTag: tag,
      cassandraVersion: schema.cassandraVersion,
      dataCenter: schema.dataCenter,
      keyspaces: await snapshotted(paths.dataFiles, schema.keyspaces, tag),
    };
    await writeFile(join(work, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    const dirs = manifest.keyspaces.flatMap((k) => k.tables.map((t) => snapshotDir(k.name, t, tag)));
    const report = byteProgress(op, 'streaming', [5, 95], await snapshotBytes(paths.dataFiles, manifest.keyspaces, tag));
    const tar = spawnStage(packCommand(work, paths.dataFiles, dirs), op.signal);
    const saved = await saveStream({
      source: gatedByExit(tar.output, tar.exited),
      storage,
      key: dataObject(ctx.instanceId, req.backupId),
      dataKey,
      compression: checked.compression,
      signal: op.signal,
      onRawBytes: report,
    });
    const artifact: BackupArtifact = {
      backupId: req.backupId,
      instanceId: ctx.instanceId,
      datastore: DATASTORE,
      datastoreVersion: schema.cassandraVersion,
      type: BackupType.FULL,
      parentId: '',
      ...saved,
      compression: checked.compression,
      encryption: ENCRYPTION,
      wrappedKey: wrapDataKey(dataKey, checked.wrappingKey, req.backupId),
      keyRef: checked.keyRef,
      facts: manifestFacts(manifest),
      createdAt,
      finishedAt: new Date().toISOString(),
    };
    op.progress(97, 'recording metadata');
    await writeMeta(storage, artifact);
    op.progress(100, `stored ${saved.size} bytes (${saved.rawSize} in the snapshot's tar)`);
    return artifact;
  } catch (err) {
    // A failed backup leaves nothing: the controller records FAILED, storage holds no trace.
    await discardBackup(storage, ctx.instanceId, req.backupId).catch((e: Error) =>
      ctx.log.warn({ backupId: req.backupId, err: e.message }, 'could not remove the objects of a failed backup'),
    );
    throw err;
  } finally {
    if (snapshotTaken) await clearSnapshot(deps, tag);
    forget(dataKey);
    await rm(work, { recursive: true, force: true });
    await rmdir(dirname(work)).catch(() => undefined);
    storage.close();
  }
}
