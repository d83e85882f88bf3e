// pg_hba.conf: who may connect how. First match wins, so the specific lines
// come before the catch-all. There is no trust line anywhere:
//   - the agent's admin role only through the unix socket (which only the
//     postgres OS user and root can open), with its password; also for
//     replication connections (pg_basebackup), which "all" does not cover;
//   - the postgres superuser ("root") refused over TCP unless root is enabled;
//   - every other role over TCP with a SCRAM password. Which databases a role
//     reaches is decided by the CONNECT privilege, not here.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../sdk/config-file.js';
import { internal } from '../sdk/errors.js';
import { select, type Session, type Sessions } from './connection.js';
import { ADMIN_USER, ROOT_USER } from './validation.js';

export const ROOT_TCP_LINE = `host    all   ${ROOT_USER}        all   scram-sha-256`;
const ROOT_REJECT_LINE = `host    all   ${ROOT_USER}        all   reject`;

export const ADMIN_REPLICATION_LINE = `local   replication   ${ADMIN_USER}        scram-sha-256`;

/** `adminReplication`: the admin may also open replication connections (full backups); the agent's own files always say so. */
export function renderHba(opts: { rootOverTcp: boolean; adminReplication?: boolean }): string {
  return [
    '# Rendered by the Steward agent; local edits are overwritten.',
    '# TYPE  DB    USER            ADDRESS  METHOD',
    `local   all   ${ADMIN_USER}                scram-sha-256`,
    ...(opts.adminReplication ? [ADMIN_REPLICATION_LINE] : []),
    `host    all   ${ADMIN_USER}   all   reject`,
    opts.rootOverTcp ? ROOT_TCP_LINE : ROOT_REJECT_LINE,
    'host    all   all             all   scram-sha-256',
    '',
  ].join('\n');
}

export const hbaAllowsRoot = (text: string): boolean => text.split('\n').includes(ROOT_TCP_LINE);
export const hbaAllowsAdminReplication = (text: string): boolean => text.split('\n').includes(ADMIN_REPLICATION_LINE);

export async function readHba(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

export interface FileOwner {
  uid?: number;
  gid?: number;
}

/** Readable by the server's group, which needs it, and by nobody else. */
export async function writeHba(path: string, text: string, owner: FileOwner): Promise<void> {
  await writeFileAtomic(path, text, { mode: 0o640, uid: owner.uid, gid: owner.gid });
}

/**
 * Writes pg_hba.conf and makes the running server use it. The server checks
 * the file first (pg_hba_file_rules parses it as a reload would); a file it
 * would refuse is put back as it was, since a reload would silently keep the
 * old rules. Returns once new connections are checked against the new file.
 */
export async function applyHba(sessions: Sessions, path: string, text: string, owner: FileOwner, signal: AbortSignal): Promise<void> {
  const previous = await readFile(path, 'utf8');
  await writeHba(path, text, owner);
  const errors = await sessions((s) =>
    select<{ line_number: number; error: string }>(s, 'SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number'),
  );
  if (errors.length) {
    await writeHba(path, previous, owner);
    throw internal(`rendered pg_hba.conf was refused by the server: ${errors.map((e) => `line ${e.line_number}: ${e.error}`).join('; ')}`);
  }
  await reloadAndWait(sessions, signal);
}

const loadTime = (s: Session): Promise<string> => select<{ t: string }>(s, 'SELECT pg_conf_load_time()::text AS t').then((rows) => rows[0].t);

/**
 * pg_reload_conf() only signals the postmaster; the reload happens shortly
 * after. A new session is forked from the postmaster and inherits its
 * pg_conf_load_time(), so a fresh session reporting a later time than before
 * proves the new rules are in force for every connection from then on.
 */
export async function reloadAndWait(sessions: Sessions, signal: AbortSignal, timeoutMs = 10_000): Promise<void> {
  const before = await sessions(async (s) => {
    const t = await loadTime(s);
    await select(s, 'SELECT pg_reload_conf()');
    return t;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reloaded = await sessions(async (s) => {
      const rows = await select<{ later: boolean }>(s, 'SELECT pg_conf_load_time() > $1::timestamptz AS later', [before]);
      return rows[0].later;
    });
    if (reloaded) return;
    if (Date.now() > deadline) throw internal(`the server did not reload its configuration within ${timeoutMs / 1000}s`);
    await sleep(50, undefined, { signal });
  }
}
