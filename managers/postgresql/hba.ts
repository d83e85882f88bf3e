// pg_hba.conf: who may connect how. First match wins, so the specific lines
// come before the catch-all. There is no trust line anywhere:
//   - the agent's admin role only through the unix socket (which only the
//     postgres OS user and root can open), with its password; also for
//     replication connections (pg_basebackup), which "all" does not cover.
//     In a replica set the admin is recognised by the agent's OS account
//     instead (peer, through pg_ident.conf's "steward" map): the role and its
//     password come from the set's first primary with the data, and a standby
//     cannot be given this instance's own password;
//   - in a replica set, the replication account over TCP, for streaming and
//     for pg_rewind's session in the postgres database;
//   - a fenced instance refuses every other TCP connection (clients cannot
//     reach it at all, so none can undo default_transaction_read_only);
//   - the postgres superuser ("root") refused over TCP unless root is enabled;
//   - every other role over TCP with a SCRAM password. Which databases a role
//     reaches is decided by the CONNECT privilege, not here.
// The file is the record of these options too: whoever changes one renders
// the file again from hbaOptionsOf(current) with that one changed.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../sdk/config-file.js';
import { internal } from '../sdk/errors.js';
import { select, type Session, type Sessions } from './connection.js';
import { ADMIN_USER, ROOT_USER } from './validation.js';

export const ROOT_TCP_LINE = `host    all   ${ROOT_USER}        all   scram-sha-256`;
const ROOT_REJECT_LINE = `host    all   ${ROOT_USER}        all   reject`;

export const ADMIN_REPLICATION_LINE = `local   replication   ${ADMIN_USER}        scram-sha-256`;

/** pg_ident.conf's map from the agent's OS account to the admin role (peer authentication). */
export const ADMIN_MAP = 'steward';
const PEER = `peer map=${ADMIN_MAP}`;
const ADMIN_LOCAL_PEER_LINE = `local   all   ${ADMIN_USER}                ${PEER}`;
const ADMIN_REPLICATION_PEER_LINE = `local   replication   ${ADMIN_USER}        ${PEER}`;
export const FENCE_LINE = 'host    all   all             all   reject';
const REPLICATION_LINE = /^host\s+replication\s+([a-z_][a-z0-9_]*)\s+all\s+scram-sha-256$/;

export interface HbaOptions {
  rootOverTcp: boolean;
  /** The admin may also open replication connections (full backups); the agent's own files always say so. */
  adminReplication?: boolean;
  /** The admin is recognised by the agent's OS account (peer) instead of its password: a replica set member. */
  adminPeer?: boolean;
  /** The replication account replicas (and pg_rewind) connect with, when this instance is in a replica set. */
  replicationUser?: string;
  /** Fenced: every client connection over TCP is refused. */
  fenced?: boolean;
}

export function renderHba(opts: HbaOptions): string {
  const adminAuth = opts.adminPeer ? PEER : 'scram-sha-256';
  const repl = opts.replicationUser;
  return [
    '# Rendered by the Steward agent; local edits are overwritten.',
    '# TYPE  DB    USER            ADDRESS  METHOD',
    opts.adminPeer ? ADMIN_LOCAL_PEER_LINE : `local   all   ${ADMIN_USER}                ${adminAuth}`,
    ...(opts.adminReplication ? [opts.adminPeer ? ADMIN_REPLICATION_PEER_LINE : ADMIN_REPLICATION_LINE] : []),
    `host    all   ${ADMIN_USER}   all   reject`,
    ...(repl ? [`host    replication   ${repl}   all   scram-sha-256`, `host    postgres   ${repl}   all   scram-sha-256`] : []),
    ...(opts.fenced ? ['# Fenced (replication): no client may connect until the instance is unfenced.', FENCE_LINE] : []),
    opts.rootOverTcp ? ROOT_TCP_LINE : ROOT_REJECT_LINE,
    'host    all   all             all   scram-sha-256',
    '',
  ].join('\n');
}

/** The options a rendered file was made with. */
export function hbaOptionsOf(text: string): HbaOptions {
  const lines = text.split('\n');
  const repl = lines.map((l) => REPLICATION_LINE.exec(l)?.[1]).find((u) => u !== undefined);
  return {
    rootOverTcp: lines.includes(ROOT_TCP_LINE),
    adminReplication: lines.includes(ADMIN_REPLICATION_LINE) || lines.includes(ADMIN_REPLICATION_PEER_LINE),
    adminPeer: lines.includes(ADMIN_LOCAL_PEER_LINE),
    replicationUser: repl,
    fenced: lines.includes(FENCE_LINE),
  };
}

export const hbaAllowsRoot = (text: string): boolean => hbaOptionsOf(text).rootOverTcp;
export const hbaAllowsAdminReplication = (text: string): boolean => !!hbaOptionsOf(text).adminReplication;

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
