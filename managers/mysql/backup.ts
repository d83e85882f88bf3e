// Physical backups of MariaDB with mariadb-backup, streamed as xbstream into
// the shared pipeline (compression, encryption, checksum, storage). Full, or
// incremental from the LSN its parent ended at: the parent's to_lsn is part of
// its recorded metadata, so no parent files need to be on this machine.
import { access, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { spawnStage } from '../sdk/backup/child-stream.js';
import { gatedByExit } from '../sdk/backup/pipeline.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { runBackup } from '../sdk/backup/run.js';
import { checkBackupCommand } from '../sdk/backup/strategy.js';
import type { BackupArtifact, BackupOps, CreateBackupCommand } from '../sdk/backup/types.js';
import { detectFlavour } from './flavour.js';
import { ADMIN_SECRET, type MysqlPaths } from './paths.js';
import { backupCommand, readCheckpoints, removeToolOptions, writeToolOptions } from './backup-tool.js';

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
    create: (req, op) => createBackup(deps, req, op),
  };
}

export async function createBackup({ ctx, paths }: MysqlBackupDeps, req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact> {
  const checked = checkBackupCommand(req, { datastore: DATASTORE, instanceId: ctx.instanceId });
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

  return runBackup({ ctx, req, checked, datastore: DATASTORE, op }, async ({ workDir, save }) => {
    await mkdir(join(workDir, 'lsn'), { mode: 0o700 });
    await mkdir(join(workDir, 'tmp'), { mode: 0o700 });
    const optionsFile = await writeToolOptions(workDir, paths, password);
    try {
      op.progress(2, `${checked.incremental ? `incremental from ${checked.parent!.backupId}` : 'full'} backup: starting mariadb-backup`);
      const expected = checked.incremental ? 0 : await treeSize(ctx.dataDir).catch(() => 0);
      const report = byteProgress(op, 'streaming', [5, 95], expected);
      const tool = spawnStage(backupCommand({ optionsFile, workDir: join(workDir, 'tmp'), lsnDir: join(workDir, 'lsn'), fromLsn }), op.signal);
      const saved = await save(gatedByExit(tool.output, tool.exited), report);
      const { facts, serverVersion } = await readCheckpoints(join(workDir, 'lsn'));
      return { saved, datastoreVersion: serverVersion, facts: { ...facts, flavour: flavour.name } };
    } finally {
      await removeToolOptions(optionsFile);
    }
  });
}
