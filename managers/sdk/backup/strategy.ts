// Checks every strategy makes before it runs anything, so that a refused
// request leaves nothing behind: no object, no partial upload.
import type { BackupArtifact, CreateBackupCommand, RestoreBackupCommand } from '../../../proto/gen/steward/v1/backups.js';
import { BackupType } from '../../../proto/gen/steward/v1/backups.js';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { checkCompression, type Compression } from './compression.js';
import { WRAPPING_KEY_BYTES } from './keys.js';

export interface CheckedBackup {
  incremental: boolean;
  parent?: BackupArtifact;
  compression: Compression;
  wrappingKey: Buffer;
  keyRef: string;
}

/** Whether the datastore can make an incremental backup is its capability "backup_incremental", checked before this runs. */
export function checkBackupCommand(req: CreateBackupCommand, opts: { datastore: string; instanceId: string }): CheckedBackup {
  if (!req.backupId) throw invalidArgument('backup_id', 'is required');
  const incremental = req.type === BackupType.INCREMENTAL;
  if (incremental) {
    const p = req.parent;
    if (!p?.backupId) throw invalidArgument('parent', 'is required for an incremental backup');
    if (p.instanceId !== opts.instanceId) throw failedPrecondition(`parent backup ${p.backupId} belongs to another instance`);
    if (p.datastore !== opts.datastore) throw failedPrecondition(`parent backup ${p.backupId} is a ${p.datastore} backup`);
  }
  const key = req.key?.wrappingKey;
  if (!key || key.length !== WRAPPING_KEY_BYTES) throw invalidArgument('key.wrapping_key', `must be ${WRAPPING_KEY_BYTES} bytes`);
  return {
    incremental,
    parent: incremental ? req.parent : undefined,
    compression: checkCompression(req.compression),
    wrappingKey: Buffer.from(key),
    keyRef: req.key?.keyRef ?? '',
  };
}

/** A chain is one full backup followed by incrementals, each the child of the one before, all of this datastore. */
export function checkChain(req: RestoreBackupCommand, datastore: string): void {
  const chain = req.chain ?? [];
  if (chain.length === 0) throw invalidArgument('restore.chain', 'name at least one backup');
  chain.forEach((item, i) => {
    const a = item.artifact;
    if (!a) throw invalidArgument(`restore.chain[${i}].artifact`, 'is required');
    if (a.datastore !== datastore) throw failedPrecondition(`backup ${a.backupId} is a ${a.datastore} backup, this is ${datastore}`);
    if (i === 0 && a.type !== BackupType.FULL) throw failedPrecondition(`a restore chain starts with a full backup; ${a.backupId} is incremental`);
    if (i > 0) {
      if (a.type !== BackupType.INCREMENTAL) throw failedPrecondition(`backup ${a.backupId} is full but is not first in the chain`);
      const prev = chain[i - 1].artifact!;
      if (a.parentId !== prev.backupId) throw failedPrecondition(`backup ${a.backupId} is not the child of ${prev.backupId}`);
    }
  });
}

/**
 * The release series a physical backup restores into: major.minor
 * ("10.11.6-MariaDB-0+deb12u1" -> "10.11"), except PostgreSQL, whose on-disk
 * format is fixed for a major version since 10 ("15.14" -> "15").
 */
export function seriesOf(version: string, datastore = ''): string {
  if (datastore === 'postgresql') return /(\d+)/.exec(version)?.[1] ?? '';
  return /(\d+)\.(\d+)/.exec(version)?.slice(1, 3).join('.') ?? '';
}

/** Refuses, before anything is fetched, a chain taken from another major.minor than the server installed here. */
export function checkSeries(req: RestoreBackupCommand, installedVersion: string): void {
  const have = seriesOf(installedVersion);
  for (const item of req.chain ?? []) {
    const from = seriesOf(item.artifact?.datastoreVersion ?? '');
    if (have && from && from !== have) {
      throw failedPrecondition(`backup ${item.artifact!.backupId} was taken from version ${from}; this server is ${have} and cannot restore it`);
    }
  }
}
