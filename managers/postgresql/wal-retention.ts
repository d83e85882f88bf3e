// Retention of the instance's WAL archive. The server adds a segment every
// 16 MiB of writes; without pruning the archive grows for ever. The agent
// prunes it itself, after each backup that completed (meta.json written):
//
//   after backup B, every archived file of B's timeline that belongs to a
//   segment strictly before B's end_wal is removed.
//
// B's end_wal is where an incremental on B starts (it repeats that segment),
// so B, the latest backup, can always be continued; an older parent cannot,
// and is refused with FAILED_PRECONDITION (see explainMissing). A full
// backup carries its own WAL, and a restore reads only what the chain holds,
// so nothing else needs the pruned segments.
//
// What counts as "belonging to a segment": the segment itself, a ".partial"
// segment (the last one of a timeline a promotion left), a backup history
// file ("<segment>.<offset>.backup", named after the segment its base backup
// started in), and archive_command's hidden copies of any of those
// (".<name>.partial") once they are old enough not to be a copy still in
// progress. Timeline history files are always kept (they are tiny and a
// recovery past timeline 1 reads them); so is anything of another timeline
// and any name the agent does not recognise.
//
// Before removing anything the agent records the cutoff in the archive (a
// dotfile the server never reads), so a later incremental on an older parent
// can say why its WAL is gone. Pruning is best-effort: a failure is logged and
// never fails the backup.
import { lstat, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import type { BackupArtifact } from '../sdk/backup/types.js';
import { readFacts } from './backup-facts.js';
import { walArchiveDir } from './wal-archive.js';
import { isWalSegmentName, parseWalFileName, type WalSegment } from './wal.js';

/** Where the last pruning is recorded, inside the archive (wiped with it when prepare resets it). */
export const RETENTION_FILE = '.steward-retention.json';

/** A hidden copy archive_command is writing is left alone until it is this old: only a leftover is removed. */
export const TEMP_GRACE_MS = 60 * 60_000;

/** What the archive keeps: everything of `timeline` from `keepFrom` (a segment file name) on. */
export interface RetentionCutoff {
  /** The backup whose end set the cutoff. */
  backupId: string;
  /** That backup's end_wal: the first segment kept. */
  keepFrom: string;
  segmentSize: number;
}

export interface ArchiveEntry {
  name: string;
  /** Last modification (ms since the epoch): only hidden copies are judged by it. */
  mtimeMs: number;
}

const TEMP = /^\.(.+)\.partial$/;
const SEGMENT_FILE = /^([0-9A-F]{24})(?:\.partial|\.[0-9A-F]{8}\.backup)?$/;

/**
 * The segment a file of the archive belongs to, with whether it is a hidden
 * copy in progress (or left over); undefined for history files and anything
 * unrecognised (never pruned).
 */
export function segmentOfArchiveFile(name: string): { segment: string; hidden: boolean } | undefined {
  const temp = TEMP.exec(name);
  const m = SEGMENT_FILE.exec(temp ? temp[1] : name);
  return m ? { segment: m[1], hidden: !!temp } : undefined;
}

function parse(name: string, segmentSize: number): WalSegment | undefined {
  try {
    return parseWalFileName(name, segmentSize);
  } catch {
    return undefined; // not a segment of this size: not ours to judge
  }
}

/** True when `a` is on the timeline of `b` and strictly before it. */
function before(a: WalSegment, b: WalSegment): boolean {
  return a.timeline === b.timeline && a.segno < b.segno;
}

/**
 * The entries of the archive that `cutoff` makes unnecessary (the selection
 * rule above, without touching the disk). Throws only when the cutoff itself
 * is not a segment name of its size: then nothing may be pruned.
 */
export function prunable(entries: ArchiveEntry[], cutoff: RetentionCutoff, now: number): string[] {
  const keep = parseWalFileName(cutoff.keepFrom, cutoff.segmentSize);
  const out: string[] = [];
  for (const { name, mtimeMs } of entries) {
    const of = segmentOfArchiveFile(name);
    if (!of) continue;
    const seg = parse(of.segment, cutoff.segmentSize);
    if (!seg || !before(seg, keep)) continue;
    if (of.hidden && !(now - mtimeMs >= TEMP_GRACE_MS)) continue;
    out.push(name);
  }
  return out;
}

export interface PruneResult {
  /** Whole segment files removed. */
  segments: number;
  /** Every file removed: segments, partial segments, backup history files, leftover copies. */
  files: number;
  bytes: number;
}

/** The pruning last recorded in `dir`, if it is readable. */
export async function readRetention(dir: string): Promise<RetentionCutoff | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, RETENTION_FILE), 'utf8')) as Partial<RetentionCutoff>;
    if (typeof r.backupId !== 'string' || !isWalSegmentName(r.keepFrom) || !Number.isInteger(r.segmentSize)) return undefined;
    if (!parse(r.keepFrom!, r.segmentSize!)) return undefined;
    return { backupId: r.backupId, keepFrom: r.keepFrom!, segmentSize: r.segmentSize! };
  } catch {
    return undefined;
  }
}

/** Removes from `dir` what `cutoff` makes unnecessary; the cutoff is recorded first. */
export async function pruneWalArchive(dir: string, cutoff: RetentionCutoff, now = Date.now()): Promise<PruneResult> {
  const keep = parseWalFileName(cutoff.keepFrom, cutoff.segmentSize);
  // The record only moves forward on a timeline: it explains the oldest segment that may be gone.
  const previous = await readRetention(dir);
  const prev = previous && previous.segmentSize === cutoff.segmentSize ? parseWalFileName(previous.keepFrom, previous.segmentSize) : undefined;
  if (!prev || !before(keep, prev)) {
    await writeFileAtomic(join(dir, RETENTION_FILE), `${JSON.stringify({ ...cutoff, prunedAt: new Date(now).toISOString() })}\n`, { mode: 0o600 });
  }
  const entries: Array<ArchiveEntry & { size: number }> = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (!d.isFile() || !segmentOfArchiveFile(d.name)) continue;
    const st = await lstat(join(dir, d.name)).catch(() => undefined);
    if (st?.isFile()) entries.push({ name: d.name, mtimeMs: st.mtimeMs, size: st.size });
  }
  const sizes = new Map(entries.map((e) => [e.name, e.size]));
  const result: PruneResult = { segments: 0, files: 0, bytes: 0 };
  for (const name of prunable(entries, cutoff, now)) {
    try {
      await unlink(join(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    result.files++;
    result.bytes += sizes.get(name) ?? 0;
    if (isWalSegmentName(name)) result.segments++;
  }
  return result;
}

/**
 * Prunes the archive after `artifact` completed; never throws. Undefined when
 * nothing was pruned (facts unusable, or an error, both logged).
 */
export async function pruneAfterBackup(ctx: Pick<ManagerContext, 'stateDir' | 'log'>, artifact: BackupArtifact): Promise<PruneResult | undefined> {
  const log = { backupId: artifact.backupId };
  let cutoff: RetentionCutoff;
  try {
    const facts = readFacts(artifact);
    cutoff = { backupId: artifact.backupId, keepFrom: facts.endWal, segmentSize: facts.segmentSize };
    parseWalFileName(cutoff.keepFrom, cutoff.segmentSize);
  } catch (err) {
    ctx.log.warn({ ...log, err: (err as Error).message }, 'WAL archive not pruned: the backup records no usable end of WAL');
    return undefined;
  }
  try {
    const r = await pruneWalArchive(walArchiveDir(ctx), cutoff);
    ctx.log.info({ ...log, keepFrom: cutoff.keepFrom, ...r }, 'WAL archive pruned up to the last segment of the backup');
    return r;
  } catch (err) {
    ctx.log.warn({ ...log, keepFrom: cutoff.keepFrom, err: (err as Error).message }, 'WAL archive pruning failed; the archive is left as it is');
    return undefined;
  }
}

/**
 * Why `missing` (a segment an incremental on `parentId` needs) is not in the
 * archive, and what to do instead: the end of a FAILED_PRECONDITION message.
 */
export function explainMissing(missing: string, parentId: string, pruned: RetentionCutoff | undefined): string {
  const seg = pruned ? parse(missing, pruned.segmentSize) : undefined;
  const keep = pruned ? parse(pruned.keepFrom, pruned.segmentSize) : undefined;
  if (pruned && seg && keep && before(seg, keep) && pruned.backupId !== parentId) {
    return (
      ` (pruned after the later backup ${pruned.backupId}: the archive keeps WAL only from the latest backup's last segment, ${pruned.keepFrom}, on); ` +
      `take a full backup, or an incremental with ${pruned.backupId} as its parent`
    );
  }
  return '; take a full backup';
}

/** The archive's size for the probe: bytes of all its files and how many whole segments it holds. Cheap: readdir and stat. */
export async function walArchiveUsage(dir: string): Promise<{ bytes: number; segments: number }> {
  let bytes = 0;
  let segments = 0;
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (!d.isFile()) continue;
    const st = await lstat(join(dir, d.name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    bytes += st.size;
    if (isWalSegmentName(d.name)) segments++;
  }
  return { bytes, segments };
}
