// Physical backups of MariaDB with mariadb-backup, streamed as xbstream into
// the shared pipeline (compression, encryption, checksum, storage). Full, or
// incremental from the LSN its parent ended at: the parent's to_lsn is part of
// its recorded metadata, so no parent files need to be on this machine.
import { access, mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { spawnStage } from '../sdk/backup/child-stream.js';
import { forget, newDataKey, wrapDataKey } from '../sdk/backup/keys.js';
import { dataKey as dataObject, writeMeta } from '../sdk/backup/layout.js';
import { discardBackup, gatedByExit, saveStream } from '../sdk/backup/pipeline.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { ENCRYPTION } from '../sdk/backup/secretstream.js';
import { openStorage } from '../sdk/backup/storage/open.js';
import { checkBackupCommand } from '../sdk/backup/strategy.js';
import { BackupType, type BackupArtifact, type BackupOps, type CreateBackupCommand } from '../sdk/backup/types.js';
import { detectFlavour } from './flavour.js';
import { ADMIN_SECRET, type MysqlPaths } from './paths.js';
import { backupCommand, readCheckpoints, removeToolOptions, writeToolOptions } from './backup-tool.js';
import { restoreChain } from './restore.js';

export const DATASTORE = 'mysql';

/** Bytes under the data directory: what the tool will read, for a progress estimate. */
async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

export interface MysqlBackupDeps {
  ctx: ManagerContext;
  paths: MysqlPaths;
}

/** The manager's `backup` (capabilities "backup" and "backup_incremental"). */
export function mysqlBackupOps(deps: MysqlBackupDeps): BackupOps {
  return {
    incremental: true,
    create: (req, op) => createBackup(deps, req, op),
    restore: (req, op) => restoreChain(deps, req, op),
  };
}

export async function createBackup({ ctx, paths }: MysqlBackupDeps, req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact> {
  const checked = checkBackupCommand(req, { datastore: DATASTORE, instanceId: ctx.instanceId, incrementalSupported: true });
  const fromLsn = checked.parent?.facts.to_lsn;
  if (checked.incremental && !/^\d+$/.test(fromLsn ?? '')) {
    throw failedPrecondition(`parent backup ${checked.parent?.backupId} has no recorded to_lsn to continue from`);
  }
  const flavour = await detectFlavour(ctx.runner);
  if (flavour.name !== 'mariadb') throw failedPrecondition('backups of MySQL 8 need xtrabackup, which this agent does not drive yet');
  await access(paths.preparedMarker).catch(() => {
    throw failedPrecondition('MySQL has not been prepared on this instance');
  });
  const password = await ctx.secrets.get(ADMIN_SECRET);
  if (!password) throw failedPrecondition('the MySQL admin password is missing from the secret store');

  const storage = openStorage(req.storage);
  // Mutating operations run one at a time: anything here is from an attempt a kill -9 cut short,
  // including its options file with the admin password.
  await rm(join(ctx.stateDir, 'backup-work'), { recursive: true, force: true });
  const work = join(ctx.stateDir, 'backup-work', req.backupId);
  await mkdir(join(work, 'lsn'), { recursive: true, mode: 0o700 });
  await mkdir(join(work, 'tmp'), { recursive: true, mode: 0o700 });
  const optionsFile = await writeToolOptions(work, paths, password);
  const dataKey = newDataKey();
  const createdAt = new Date().toISOString();
  try {
    op.progress(2, `${checked.incremental ? `incremental from ${checked.parent!.backupId}` : 'full'} backup: starting mariadb-backup`);
    const expected = checked.incremental ? 0 : await treeSize(ctx.dataDir).catch(() => 0);
    const report = byteProgress(op, 'streaming', [5, 95], expected);
    const tool = spawnStage(backupCommand({ optionsFile, workDir: join(work, 'tmp'), lsnDir: join(work, 'lsn'), fromLsn }), op.signal);
    const saved = await saveStream({
      source: gatedByExit(tool.output, tool.exited),
      storage,
      key: dataObject(ctx.instanceId, req.backupId),
      dataKey,
      compression: checked.compression,
      signal: op.signal,
      onRawBytes: report,
    });
    const { facts, serverVersion } = await readCheckpoints(join(work, 'lsn'));
    const artifact: BackupArtifact = {
      backupId: req.backupId,
      instanceId: ctx.instanceId,
      datastore: DATASTORE,
      datastoreVersion: serverVersion,
      type: checked.incremental ? BackupType.INCREMENTAL : BackupType.FULL,
      parentId: checked.parent?.backupId ?? '',
      ...saved,
      compression: checked.compression,
      encryption: ENCRYPTION,
      wrappedKey: wrapDataKey(dataKey, checked.wrappingKey, req.backupId),
      keyRef: checked.keyRef,
      facts: { ...facts, flavour: flavour.name },
      createdAt,
      finishedAt: new Date().toISOString(),
    };
    op.progress(97, 'recording metadata');
    await writeMeta(storage, artifact);
    op.progress(100, `stored ${saved.size} bytes (${saved.rawSize} native)`);
    return artifact;
  } catch (err) {
    // A failed backup leaves nothing: the controller records FAILED, storage holds no trace.
    await discardBackup(storage, ctx.instanceId, req.backupId).catch((e: Error) =>
      ctx.log.warn({ backupId: req.backupId, err: e.message }, 'could not remove the objects of a failed backup'),
    );
    throw err;
  } finally {
    forget(dataKey);
    await removeToolOptions(optionsFile);
    await rm(work, { recursive: true, force: true });
    await rmdir(dirname(work)).catch(() => undefined); // only when no other backup is using it
    storage.close();
  }
}
