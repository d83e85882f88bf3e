// The instance's WAL archive: a directory under the instance's state
// directory (outside the data directory, so a retried prepare or a restore
// never mixes it with the server's own pg_wal) that the server fills through
// archive_command. Incremental backups are read from it.
//
// archive_command has to be safe to run twice for the same segment (the
// archiver retries after a crash between copying and recording success): a
// file already archived with the same content is success, one with different
// content is a failure the server keeps retrying and logging, never an
// overwrite. A segment appears under its name only complete and fsynced (copy
// to a hidden name, fsync, rename, fsync the directory).
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext } from '../sdk/contract.js';
import { emptyDir, ownedBy } from '../sdk/data-dir.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { OsUser } from '../sdk/os-user.js';

export const walArchiveDir = (ctx: Pick<ManagerContext, 'stateDir'>): string => join(ctx.stateDir, 'wal-archive');

/** A word for /bin/sh: single-quoted, with single quotes spliced in. */
export const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** archive_command and restore_command expand %f, %p and %%: a literal % in a path must be doubled. */
const literal = (s: string): string => s.replaceAll('%', '%%');

export function archiveCommand(dir: string): string {
  const d = literal(shellQuote(dir));
  return [
    `d=${d}`,
    'f="$d/%f"',
    // Already archived: success only when it is the same segment.
    'if test -e "$f"; then exec cmp -s -- %p "$f"; fi',
    't="$d/.%f.partial"',
    'cp -- %p "$t" && sync -- "$t" && mv -f -- "$t" "$f" && sync -- "$d"',
  ].join('; ');
}

/**
 * Recovery reads segments from `dir`. A missing file is "not in the archive"
 * (recovery asks for the next segment and history files until one is missing):
 * a plain non-zero exit, without cp's complaint in the server's log each time.
 */
export const restoreCommand = (dir: string): string => `f=${literal(shellQuote(dir))}/%f; test -f "$f" && exec cp -- "$f" %p`;

/** An empty archive for a new cluster (prepare): WAL of an earlier attempt belongs to a cluster that is gone. */
export async function resetWalArchive(dir: string, owner: OsUser | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  await emptyDir(dir);
  await ownedBy(dir, owner, 0o700);
}

/**
 * FAILED_PRECONDITION unless every one of `names` is in the archive as a whole
 * segment: an incremental made from a gap would restore to a wrong state, or not at all.
 */
export async function requireArchived(
  dir: string,
  names: string[],
  segmentSize: number,
  what: string,
  /** The end of the message when a segment is missing: why, and what to do instead. */
  whyMissing: (name: string) => string | Promise<string> = () => '',
): Promise<void> {
  for (const name of names) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (!st) throw failedPrecondition(`${what} is no longer complete in the WAL archive: ${name} is missing${await whyMissing(name)}`);
    if (st.size !== segmentSize) throw failedPrecondition(`${what} is damaged in the WAL archive: ${name} has ${st.size} bytes, not ${segmentSize}`);
  }
}

export const isArchived = (dir: string, name: string): Promise<boolean> =>
  stat(join(dir, name)).then(
    () => true,
    () => false,
  );
