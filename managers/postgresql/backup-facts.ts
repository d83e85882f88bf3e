// The facts a PostgreSQL backup records (BackupArtifact.facts) and the rules
// a chain of them must follow. They are all a restore, or an incremental made
// later, needs from a backup: nothing of the parent has to be on the machine.
//
//   format              "pg_basebackup-tar" (full) or "wal-tar" (incremental)
//   timeline            the WAL timeline the backup is on
//   start_lsn, end_lsn  full: where replay starts (backup_label) and where the
//                       copy is consistent (manifest); incremental: the
//                       parent's end and the restore point it replays to
//   start_wal, end_wal  first and last WAL segment file the backup carries; an
//                       incremental starts at its parent's end_wal
//   restore_point       incremental: the named restore point recovery stops at
//   wal_segment_size    bytes per segment (file name arithmetic)
//   system_identifier   the cluster's identity (pg_control): a chain is one cluster
//   server_version_num  e.g. 150014; a data directory only runs on its major
import type { BackupArtifact } from '../sdk/backup/types.js';
import { BackupType } from '../sdk/backup/types.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isLsn, isWalSegmentName, timelineOf } from './wal.js';

export const FULL_FORMAT = 'pg_basebackup-tar';
export const WAL_FORMAT = 'wal-tar';

export interface PgBackupFacts {
  format: string;
  timeline: number;
  startLsn: string;
  endLsn: string;
  startWal: string;
  endWal: string;
  restorePoint?: string;
  segmentSize: number;
  systemIdentifier: string;
  versionNum: number;
}

export function toFacts(f: PgBackupFacts): Record<string, string> {
  return {
    format: f.format,
    timeline: String(f.timeline),
    start_lsn: f.startLsn,
    end_lsn: f.endLsn,
    start_wal: f.startWal,
    end_wal: f.endWal,
    ...(f.restorePoint ? { restore_point: f.restorePoint } : {}),
    wal_segment_size: String(f.segmentSize),
    system_identifier: f.systemIdentifier,
    server_version_num: String(f.versionNum),
  };
}

/** The recorded facts of `a`, checked; FAILED_PRECONDITION naming the backup when something is missing. */
export function readFacts(a: BackupArtifact): PgBackupFacts {
  const f = a.facts ?? {};
  const bad = (what: string) => failedPrecondition(`backup ${a.backupId} has no usable ${what} recorded: it cannot be restored or continued`);
  const full = a.type === BackupType.FULL;
  const format = full ? FULL_FORMAT : WAL_FORMAT;
  if (f.format !== format) throw bad(`format (expected "${format}", found "${f.format ?? ''}")`);
  const timeline = Number(f.timeline);
  if (!Number.isInteger(timeline) || timeline < 1) throw bad('timeline');
  for (const k of ['start_lsn', 'end_lsn'] as const) if (!isLsn(f[k])) throw bad(k);
  for (const k of ['start_wal', 'end_wal'] as const) if (!isWalSegmentName(f[k]) || timelineOf(f[k]) !== timeline) throw bad(k);
  if (!full && !f.restore_point) throw bad('restore_point');
  const segmentSize = Number(f.wal_segment_size);
  if (!Number.isInteger(segmentSize) || segmentSize <= 0) throw bad('wal_segment_size');
  if (!/^\d+$/.test(f.system_identifier ?? '')) throw bad('system_identifier');
  const versionNum = Number(f.server_version_num);
  if (!Number.isInteger(versionNum) || versionNum < 100000) throw bad('server_version_num');
  return {
    format,
    timeline,
    startLsn: f.start_lsn,
    endLsn: f.end_lsn,
    startWal: f.start_wal,
    endWal: f.end_wal,
    restorePoint: f.restore_point || undefined,
    segmentSize,
    systemIdentifier: f.system_identifier,
    versionNum,
  };
}

export const majorOf = (versionNum: number): number => Math.floor(versionNum / 10000);

/**
 * One cluster, one timeline, one segment size, and each incremental's WAL
 * beginning where its parent's ended: a chain that breaks any of these cannot
 * replay, and is refused before anything is fetched.
 */
export function checkChainFacts(chain: Array<{ id: string; facts: PgBackupFacts }>): void {
  const [first] = chain;
  for (const [i, { id, facts }] of chain.entries()) {
    if (facts.systemIdentifier !== first.facts.systemIdentifier) throw failedPrecondition(`backup ${id} is of another cluster than ${first.id}`);
    if (facts.timeline !== first.facts.timeline)
      throw failedPrecondition(`backup ${id} is on timeline ${facts.timeline}, ${first.id} on ${first.facts.timeline}`);
    if (facts.segmentSize !== first.facts.segmentSize) throw failedPrecondition(`backup ${id} has another WAL segment size than ${first.id}`);
    if (i > 0 && facts.startWal !== chain[i - 1].facts.endWal) {
      throw failedPrecondition(`backup ${id} continues from WAL ${facts.startWal}, but ${chain[i - 1].id} ends at ${chain[i - 1].facts.endWal}`);
    }
  }
}
