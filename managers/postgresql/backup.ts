// Physical backups of PostgreSQL through the shared pipeline (compression,
// encryption, checksum, storage). Full: pg_basebackup's tar with the WAL that
// makes it consistent (backup-full.ts). Incremental: the WAL archived since
// the parent (backup-incremental.ts); the parent's recorded facts say where
// that starts, so no parent files need to be on this machine. Once a backup
// is recorded, the WAL archive is pruned up to its end (wal-retention.ts).
// Restore: restore.ts (run by prepare).
import type { Readable } from 'node:stream';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isPrepared } from '../sdk/prepared.js';
import type { Saved } from '../sdk/backup/pipeline.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { runBackup } from '../sdk/backup/run.js';
import { checkBackupCommand } from '../sdk/backup/strategy.js';
import type { BackupArtifact, BackupOps, CreateBackupCommand } from '../sdk/backup/types.js';
import { FULL_FORMAT, WAL_FORMAT, readFacts, toFacts, type PgBackupFacts } from './backup-facts.js';
import { fullBackup } from './backup-full.js';
import { incrementalBackup } from './backup-incremental.js';
import { select, withSession, type SessionOptions } from './connection.js';
import { ADMIN_SECRET, type PgPaths } from './paths.js';
import { effective } from './settings.js';
import { pruneAfterBackup } from './wal-retention.js';
import { ADMIN_USER } from './validation.js';

export const DATASTORE = 'postgresql';

export interface PgBackupDeps {
  ctx: ManagerContext;
  paths: PgPaths;
}

/** The manager's `backup` (capabilities "backup" and "backup_incremental"). */
export function postgresqlBackupOps(deps: PgBackupDeps): BackupOps {
  return {
    create: (req, op) => createBackup(deps, req, op),
  };
}

interface ServerFacts {
  version: string;
  versionNum: number;
  systemIdentifier: string;
  segmentSize: number;
}

async function serverFacts(admin: SessionOptions, signal: AbortSignal): Promise<ServerFacts> {
  const [r] = await withSession(
    admin,
    (s) =>
      select<{ version: string; num: string; sysid: string; seg: string }>(
        s,
        `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
                (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
                (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg`,
      ),
    signal,
  );
  return { version: r.version, versionNum: Number(r.num), systemIdentifier: r.sysid, segmentSize: Number(r.seg) };
}

export async function createBackup({ ctx, paths }: PgBackupDeps, req: CreateBackupCommand, op: OperationScope): Promise<BackupArtifact> {
  const checked = checkBackupCommand(req, { datastore: DATASTORE, instanceId: ctx.instanceId });
  // A parent without usable facts is refused before anything runs: it can never be continued.
  const parent = checked.parent ? readFacts(checked.parent) : undefined;
  if (!(await isPrepared(paths.preparedMarker))) throw failedPrecondition('PostgreSQL has not been prepared on this instance');
  const password = await ctx.secrets.get(ADMIN_SECRET);
  if (!password) throw failedPrecondition('the PostgreSQL admin password is missing from the secret store');
  const { port, installation: inst } = await effective(ctx, paths);
  const admin: SessionOptions = { host: paths.socketDir, port, user: ADMIN_USER, password };

  const { signal } = op;
  return runBackup({ ctx, req, checked, datastore: DATASTORE, op }, async ({ workDir: work, save: store }) => {
    const server = await serverFacts(admin, signal);
    const save = (source: Readable, expectedBytes: number) => store(source, byteProgress(op, 'streaming', [5, 95], expectedBytes));
    const common = { segmentSize: server.segmentSize, systemIdentifier: server.systemIdentifier, versionNum: server.versionNum };
    let facts: PgBackupFacts;
    let saved: Saved;
    if (parent) {
      op.progress(2, `incremental backup from ${checked.parent!.backupId}: switching and archiving WAL`);
      const r = await incrementalBackup({ ctx, admin, work, backupId: req.backupId, parentId: checked.parent!.backupId, parent, server, signal, save });
      ({ saved } = r);
      facts = { ...r.facts, ...common, format: WAL_FORMAT };
    } else {
      op.progress(2, 'full backup: starting pg_basebackup');
      const r = await fullBackup({ ctx, paths, inst, admin, work, backupId: req.backupId, segmentSize: server.segmentSize, signal, save });
      ({ saved } = r);
      facts = { ...r.facts, ...common, format: FULL_FORMAT };
    }
    return {
      saved,
      datastoreVersion: server.version,
      facts: toFacts(facts),
      // The backup is complete: WAL before its end is no longer needed by any incremental on it (wal-retention.ts).
      afterStored: async (artifact) => {
        const pruned = await pruneAfterBackup(ctx, artifact);
        return pruned ? `; WAL archive: ${pruned.segments} segments (${pruned.bytes} bytes) before ${facts.endWal} removed` : '';
      },
    };
  });
}
