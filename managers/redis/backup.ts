// Redis backups: a fresh RDB snapshot from the running server (rdb-sync.ts),
// streamed into the shared pipeline (compression, encryption, checksum,
// storage). Full only: an RDB is always the whole dataset, and Redis keeps no
// change log a later backup could start from (rewrites compact the AOF), so
// it does not declare "backup_incremental" and an incremental request is
// refused before anything is written.
import { access } from 'node:fs/promises';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { runBackup } from '../sdk/backup/run.js';
import { checkBackupCommand } from '../sdk/backup/strategy.js';
import type { BackupArtifact, BackupOps, CreateBackupCommand } from '../sdk/backup/types.js';
import { info, withSession, type SessionOptions } from './connection.js';
import { ADMIN_SECRET, type RedisPaths } from './paths.js';
import { syncRdb } from './rdb-sync.js';
import { DATASTORE } from './restore.js';
import { ADMIN_USER } from './validation.js';

export interface RedisBackupDeps {
  ctx: ManagerContext;
  paths: RedisPaths;
}

/** The manager's `backup` (capability "backup"; not "backup_incremental"). */
export function redisBackupOps(deps: RedisBackupDeps): BackupOps {
  return {
    create: (req, op) => createBackup(deps, req, op),
  };
}

export async function createBackup({ ctx, paths }: RedisBackupDeps, req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact> {
  const checked = checkBackupCommand(req, { datastore: DATASTORE, instanceId: ctx.instanceId });
  await access(paths.preparedMarker).catch(() => {
    throw failedPrecondition('Redis has not been prepared on this instance');
  });
  const password = await ctx.secrets.get(ADMIN_SECRET);
  if (!password) throw failedPrecondition('the Redis admin password is missing from the secret store');
  const admin: SessionOptions = { socket: paths.socket, user: ADMIN_USER, password };
  // Asked first: a server that does not answer fails the backup before storage is touched.
  const server = await withSession(admin, (s) => info(s, 'server'), op.signal);

  return runBackup({ ctx, req, checked, datastore: DATASTORE, op }, async ({ save }) => {
    op.progress(2, 'full backup: Redis is writing a fresh RDB snapshot');
    let report: ((bytes: number) => void) | undefined;
    const rdb = syncRdb({
      ...admin,
      signal: op.signal,
      // The server announces the snapshot's size before sending it: progress is exact.
      onLength: (bytes) => (report = byteProgress(op, 'streaming the snapshot', [5, 95], bytes)),
    });
    const saved = await save(rdb.output, (bytes) => report?.(bytes));
    const version = server.redis_version ?? '';
    return { saved, datastoreVersion: version, facts: { format: 'rdb', rdb_version: rdb.rdbVersion(), redis_version: version }, nativeWhat: 'bytes of RDB' };
  });
}
