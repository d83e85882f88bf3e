// mariadb-backup invocations. Credentials reach the tool through a 0600
// options file that includes the instance's my.cnf (never argv, which any local
// user can read in /proc), and the tool runs from the instance's directories
// so several instances on one host never share temporary files.
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '../sdk/errors.js';
import { renderIni } from '../sdk/config-file.js';
import type { ToolCommand } from '../sdk/backup/child-stream.js';
import type { MysqlPaths } from './paths.js';
import { ADMIN_USER } from './validation.js';

export const MARIADB_BACKUP = process.env.STEWARD_MARIADB_BACKUP ?? '/usr/bin/mariadb-backup';
export const MBSTREAM = process.env.STEWARD_MBSTREAM ?? '/usr/bin/mbstream';

/** Writes the options file and returns its path; the caller removes it. */
export async function writeToolOptions(dir: string, paths: MysqlPaths, password: string): Promise<string> {
  const file = join(dir, `backup-${randomBytes(6).toString('hex')}.cnf`);
  const body = renderIni({ 'mariadb-backup': { user: ADMIN_USER, password, socket: paths.socket } });
  await writeFile(file, `!include ${paths.configFile}\n\n${body}`, { mode: 0o600, flag: 'wx' });
  return file;
}

export const removeToolOptions = (file: string): Promise<void> => rm(file, { force: true });

export interface BackupArgs {
  optionsFile: string;
  /** Where the tool keeps temporary files and the copy of its checkpoints. */
  workDir: string;
  lsnDir: string;
  /** Incremental: the LSN the parent ended at. */
  fromLsn?: string;
}

export function backupCommand(a: BackupArgs): ToolCommand {
  return {
    command: MARIADB_BACKUP,
    args: [
      `--defaults-file=${a.optionsFile}`,
      '--backup',
      '--stream=xbstream',
      `--target-dir=${a.workDir}`,
      `--extra-lsndir=${a.lsnDir}`,
      ...(a.fromLsn ? [`--incremental-lsn=${a.fromLsn}`] : []),
    ],
  };
}

/** The key = value lines of xtrabackup_checkpoints / xtrabackup_info. */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** "filename 'mysql-bin.000002', position '1234', GTID of the last change '0-5-12'" -> "0-5-12". */
export function gtidOfBinlogPos(binlogPos: string): string {
  return /GTID of the last change '([0-9,\s-]*)'/.exec(binlogPos)?.[1]?.replace(/\s+/g, '') ?? '';
}

/** from_lsn/to_lsn/backup_type of the backup just streamed, and the server version it came from. */
export async function readCheckpoints(lsnDir: string): Promise<{ facts: Record<string, string>; serverVersion: string }> {
  const cp = parseKeyValues(await readFile(join(lsnDir, 'xtrabackup_checkpoints'), 'utf8'));
  if (!/^\d+$/.test(cp.to_lsn ?? '')) throw failedPrecondition('mariadb-backup wrote no to_lsn in xtrabackup_checkpoints');
  const info = parseKeyValues(await readFile(join(lsnDir, 'xtrabackup_info'), 'utf8').catch(() => ''));
  return {
    facts: {
      backup_type: cp.backup_type ?? '',
      from_lsn: cp.from_lsn ?? '',
      to_lsn: cp.to_lsn,
      last_lsn: cp.last_lsn ?? '',
      tool_version: info.tool_version ?? '',
      // Where a replica built from this backup starts following its source (empty: the source had written nothing).
      ...(info.binlog_pos !== undefined ? { gtid: gtidOfBinlogPos(info.binlog_pos) } : {}),
    },
    serverVersion: info.server_version ?? '',
  };
}
