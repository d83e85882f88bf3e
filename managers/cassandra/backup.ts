// Backups of one Cassandra node: a snapshot of the user keyspaces (nodetool
// snapshot flushes the memtables first, then hard-links every sstable), streamed
// as a tar through the shared pipeline (compression, encryption, checksum,
// storage). Full only: a snapshot is a whole copy, and incremental sstable
// backups would need the agent to track which files each backup already holds.
// The snapshot is always cleared afterwards, whatever happened.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { spawnStage } from '../sdk/backup/child-stream.js';
import { gatedByExit } from '../sdk/backup/pipeline.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { runBackup } from '../sdk/backup/run.js';
import { checkBackupCommand } from '../sdk/backup/strategy.js';
import type { BackupArtifact, BackupOps, CreateBackupCommand } from '../sdk/backup/types.js';
import { packCommand } from './archive.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, manifestFacts, snapshotDir, snapshotTag, type BackupManifest } from './backup-manifest.js';
import type { SessionRunner } from './connection.js';
import type { CassandraPaths } from './paths.js';
import { leftoverTags, readUserSchema, snapshotBytes, snapshotted } from './snapshot.js';
import { deadline } from '../sdk/signals.js';

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
}

/** The manager's `backup` (capability "backup", not "backup_incremental"). */
export function cassandraBackupOps(deps: CassandraBackupDeps): BackupOps {
  return {
    create: (req, op) => createBackup(deps, req, op),
  };
}

/** Clears a snapshot; a failure is logged, not thrown: it must not hide the backup's own outcome. */
async function clearSnapshot(deps: CassandraBackupDeps, tag: string): Promise<void> {
  // Not the operation's signal: a cancelled backup must still let go of its hard links.
  await deps
    .nodetool(['clearsnapshot', '-t', tag], deadline(CLEAR_TIMEOUT_MS), CLEAR_TIMEOUT_MS)
    .catch((err: Error) => deps.ctx.log.warn({ tag, err: err.message }, 'could not clear a backup snapshot; the next backup tries again'));
}

export async function createBackup(deps: CassandraBackupDeps, req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact> {
  const { ctx, paths } = deps;
  const checked = checkBackupCommand(req, { datastore: DATASTORE, instanceId: ctx.instanceId });
  await deps.requireRunning();
  const tag = snapshotTag(req.backupId);
  return runBackup({ ctx, req, checked, datastore: DATASTORE, op }, async ({ workDir, save }) => {
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
      await writeFile(join(workDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
      const dirs = manifest.keyspaces.flatMap((k) => k.tables.map((t) => snapshotDir(k.name, t, tag)));
      const report = byteProgress(op, 'streaming', [5, 95], await snapshotBytes(paths.dataFiles, manifest.keyspaces, tag));
      const tar = spawnStage(packCommand(workDir, paths.dataFiles, dirs), op.signal);
      const saved = await save(gatedByExit(tar.output, tar.exited), report);
      return { saved, datastoreVersion: schema.cassandraVersion, facts: manifestFacts(manifest), nativeWhat: "in the snapshot's tar" };
    } finally {
      if (snapshotTaken) await clearSnapshot(deps, tag);
    }
  });
}
