// An incremental backup: the archived WAL since its parent, as a tar of
// segment files. The server first writes a named restore point (what a
// restore of this backup replays up to) and switches to a new segment, so the
// segment holding the restore point is finished and gets archived; once it is
// in the archive, every segment from the parent's last one (end_wal) to it is
// streamed. The parent's own last segment is included again: it is where
// this backup's WAL continues, and it costs one segment.
//
// Nothing here falls back to a full backup: an archive that lacks any of
// those segments (pruned, never archived, another cluster) is refused with
// FAILED_PRECONDITION before anything is stored. The agent prunes the archive
// after every backup up to that backup's end_wal (wal-retention.ts), so only
// the latest backup of the instance can be a parent: an older one is refused
// with a message naming the backup that pruned its WAL.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnStage } from '../sdk/backup/child-stream.js';
import { gatedByExit, type Saved } from '../sdk/backup/pipeline.js';
import type { ManagerContext } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { PgBackupFacts } from './backup-facts.js';
import type { WalSpan } from './basebackup.js';
import { select, withSession, type Session, type SessionOptions } from './connection.js';
import { TAR } from './tar.js';
import { archiveCommand, isArchived, requireArchived, walArchiveDir } from './wal-archive.js';
import { historyFileName, isWalSegmentName, timelineOf, walRange } from './wal.js';
import { explainMissing, readRetention } from './wal-retention.js';

/** How long a switched segment may take to reach the archive before the backup gives up. */
export const ARCHIVE_WAIT_MS = 5 * 60_000;

export interface IncrementalInput {
  ctx: ManagerContext;
  admin: SessionOptions;
  work: string;
  backupId: string;
  parentId: string;
  parent: PgBackupFacts;
  server: { segmentSize: number; systemIdentifier: string };
  signal: AbortSignal;
  save: (source: Readable, expectedBytes: number) => Promise<Saved>;
  archiveWaitMs?: number;
}

export interface IncrementalFacts extends WalSpan {
  restorePoint: string;
}

/** 63 bytes at most (the server's limit), unique per attempt so a recovery can never stop at another one. */
export const restorePointName = (backupId: string): string => `steward-${backupId.slice(0, 40)}-${randomBytes(4).toString('hex')}`;

/** Why `name` is gone: pruned after a later backup (wal-retention.ts), or not known. */
const whyMissing = async (dir: string, name: string, parentId: string): Promise<string> => explainMissing(name, parentId, await readRetention(dir));

/**
 * Refuses at once, before the server writes anything, when this server does
 * not archive into the agent's archive, or when the parent's last segment is
 * missing although the archiver has already gone past it. (Not archived yet
 * is fine: a full backup's last segment is switched out only as it ends.)
 */
async function precheck(s: Session, i: IncrementalInput, archiveDir: string): Promise<void> {
  const [row] = await select<{ mode: string; command: string; last: string | null }>(
    s,
    "SELECT current_setting('archive_mode') AS mode, current_setting('archive_command') AS command, (SELECT last_archived_wal FROM pg_stat_archiver) AS last",
  );
  if (row.mode !== 'on' || row.command !== archiveCommand(archiveDir)) {
    throw failedPrecondition(
      "this instance does not archive its WAL into the agent's archive (prepared before incremental backups existed?): take a full backup after re-preparing it",
    );
  }
  const first = i.parent.endWal;
  const passed = !!row.last && isWalSegmentName(row.last) && timelineOf(row.last) === timelineOf(first) && row.last >= first;
  if (passed && !(await isArchived(archiveDir, first))) {
    throw failedPrecondition(
      `the WAL since parent backup ${i.parentId} is no longer complete in the WAL archive: ${first} is missing${await whyMissing(archiveDir, first, i.parentId)}`,
    );
  }
}

/** Resolves once `name` is in the archive; says what the archiver last failed on when it never arrives. */
async function waitArchived(i: IncrementalInput, dir: string, name: string): Promise<void> {
  const deadline = Date.now() + (i.archiveWaitMs ?? ARCHIVE_WAIT_MS);
  while (!(await isArchived(dir, name))) {
    if (Date.now() > deadline) {
      const [a] = await withSession(
        i.admin,
        (s) => select<{ wal: string | null; at: string | null }>(s, 'SELECT last_failed_wal AS wal, last_failed_time::text AS at FROM pg_stat_archiver'),
        i.signal,
      );
      const why = a?.wal ? ` (the archiver last failed on ${a.wal} at ${a.at}; see the server log)` : '';
      throw failedPrecondition(`WAL segment ${name} did not reach the archive within ${(i.archiveWaitMs ?? ARCHIVE_WAIT_MS) / 1000}s${why}`);
    }
    await sleep(100, undefined, { signal: i.signal });
  }
}

export async function incrementalBackup(i: IncrementalInput): Promise<{ saved: Saved; facts: IncrementalFacts }> {
  const { parent, parentId } = i;
  const dir = walArchiveDir(i.ctx);
  const what = `the WAL since parent backup ${parentId}`;
  if (parent.systemIdentifier !== i.server.systemIdentifier) throw failedPrecondition(`parent backup ${parentId} is of another cluster than this instance's`);
  if (parent.segmentSize !== i.server.segmentSize) throw failedPrecondition(`parent backup ${parentId} has another WAL segment size than this instance`);
  const restorePoint = restorePointName(i.backupId);
  const { endLsn, endWal } = await withSession(
    i.admin,
    async (s) => {
      await precheck(s, i, dir);
      const [rp] = await select<{ lsn: string }>(s, 'SELECT pg_create_restore_point($1)::text AS lsn', [restorePoint]);
      // pg_walfile_name of the switch position is the segment it finished (the one holding the restore point).
      const [sw] = await select<{ wal: string }>(s, 'SELECT pg_walfile_name(pg_switch_wal()) AS wal');
      return { endLsn: rp.lsn, endWal: sw.wal };
    },
    i.signal,
  );
  if (timelineOf(endWal) !== parent.timeline) {
    throw failedPrecondition(`this instance is on timeline ${timelineOf(endWal)} and parent backup ${parentId} on ${parent.timeline}: take a full backup`);
  }
  await waitArchived(i, dir, endWal);
  const names = walRange(parent.endWal, endWal, parent.segmentSize);
  await requireArchived(dir, names, parent.segmentSize, what, (name) => whyMissing(dir, name, parentId));
  // A timeline's history file is part of its WAL: a restore reads it when the chain is past timeline 1.
  if (parent.timeline > 1 && (await isArchived(dir, historyFileName(parent.timeline)))) names.push(historyFileName(parent.timeline));

  const list = join(i.work, 'wal-files');
  await writeFile(list, `${names.join('\n')}\n`, { mode: 0o600 });
  const tool = spawnStage({ command: TAR, args: ['-c', '-f', '-', '-C', dir, '-T', list] }, i.signal);
  try {
    const saved = await i.save(gatedByExit(tool.output, tool.exited), names.length * parent.segmentSize);
    return { saved, facts: { startLsn: parent.endLsn, endLsn, startWal: parent.endWal, endWal, restorePoint, timeline: parent.timeline } };
  } finally {
    tool.kill(); // after a failure downstream nobody reads its stdout: it would block there for ever
  }
}
