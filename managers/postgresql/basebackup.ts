// pg_basebackup for a full backup: one tar of the data directory on stdout
// (`-D - -Ft`), with the WAL the copy needs to become consistent inside it
// (`-X fetch`, sent at the end), so a full backup restores on its own. The
// admin's password reaches the tool through a 0600 password file named by
// PGPASSFILE (never argv, which any local user can read in /proc), and the
// tool connects over the unix socket like the agent itself.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ToolCommand } from '../sdk/backup/child-stream.js';
import { internal } from '../sdk/errors.js';
import { bin, type Installation } from './installation.js';
import { toolEnv } from './secure.js';
import type { TarScan } from './tar-scan.js';
import { ADMIN_USER } from './validation.js';
import { isLsn, parseLsn, walFileEnding, walRange } from './wal.js';

/** A password file line field: ':' and '\' are escaped with a backslash. */
export const pgpassField = (s: string): string => s.replace(/[\\:]/g, (c) => `\\${c}`);

/** Writes the password file and returns its path; the caller removes it. */
export async function writePasswordFile(dir: string, password: string): Promise<string> {
  const file = join(dir, `pgpass-${randomBytes(6).toString('hex')}`);
  // Any host (a socket directory counts as one), port and database: the file exists only for this run.
  await writeFile(file, `*:*:*:${pgpassField(ADMIN_USER)}:${pgpassField(password)}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}

export const removePasswordFile = (file: string): Promise<void> => rm(file, { force: true });

export function basebackupCommand(o: { inst: Installation; socketDir: string; port: number; passFile: string; label: string; cwd: string }): ToolCommand {
  return {
    command: bin(o.inst, 'pg_basebackup'),
    args: [
      '--pgdata=-',
      '--format=tar',
      '--wal-method=fetch',
      // Start at once instead of waiting for the next scheduled checkpoint.
      '--checkpoint=fast',
      `--label=${o.label}`,
      `--host=${o.socketDir}`,
      `--port=${o.port}`,
      `--username=${ADMIN_USER}`,
      '--no-password',
    ],
    cwd: o.cwd,
    env: { ...toolEnv(), PGPASSFILE: o.passFile },
  };
}

/** The "KEY: value" lines of backup_label. */
export function parseBackupLabel(text: string): { startLsn: string; startWal: string; timeline: number } {
  const start = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/m.exec(text);
  const tli = /^START TIMELINE: (\d+)$/m.exec(text);
  if (!start || !tli) throw internal('backup_label in pg_basebackup output lacks START WAL LOCATION or START TIMELINE');
  return { startLsn: start[1], startWal: start[2], timeline: Number(tli[1]) };
}

/** End-LSN of the last WAL range in the tail of backup_manifest. */
export function manifestEndLsn(tail: string): string {
  const all = [...tail.matchAll(/"End-LSN"\s*:\s*"([0-9A-F]+\/[0-9A-F]+)"/g)];
  const last = all.at(-1)?.[1];
  if (!last || !isLsn(last)) throw internal('backup_manifest in pg_basebackup output has no WAL range');
  return last;
}

/** Where a backup's WAL starts and ends (the facts a full and an incremental backup both record). */
export interface WalSpan {
  timeline: number;
  startLsn: string;
  endLsn: string;
  startWal: string;
  endWal: string;
}

/**
 * Where a full backup starts and ends in WAL, from what passed in its tar; and
 * a check that the tar holds every segment from start to end, since a restore
 * of the full backup alone replays exactly those.
 */
export function fullBackupFacts(scan: TarScan, segmentSize: number): WalSpan {
  if (!scan.ended) throw internal('pg_basebackup output ended without the end-of-archive blocks');
  if (!scan.label) throw internal('pg_basebackup output has no backup_label');
  if (!scan.manifestTail) throw internal('pg_basebackup output has no backup_manifest');
  const label = parseBackupLabel(scan.label);
  const endLsn = manifestEndLsn(scan.manifestTail);
  const endWal = walFileEnding(parseLsn(endLsn), label.timeline, segmentSize);
  const segments = scan.walFiles.filter((f) => f.length === 24).sort();
  const expected = walRange(label.startWal, endWal, segmentSize);
  const missing = expected.filter((f) => !segments.includes(f));
  if (missing.length) throw internal(`pg_basebackup output lacks the WAL the backup needs: ${missing.join(', ')}`);
  return { timeline: label.timeline, startLsn: label.startLsn, endLsn, startWal: label.startWal, endWal };
}
