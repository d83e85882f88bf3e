// The files that say where this instance stands in its replica set, rendered
// from the remembered state (sdk/replication-state.ts and replication-facts.ts)
// so that a restarted server keeps its role and its fence:
//   replication.conf   included last by postgresql.conf: the source to stream
//                      from (primary_conninfo, primary_slot_name), the
//                      synchronous standbys, default_transaction_read_only
//                      when fenced. All of them take effect on a reload.
//   pg_hba.conf        the replication account's lines in a replica set, the
//                      admin by OS account (peer), and the fence (hba.ts);
//   pg_ident.conf      the map from the agent's OS account to the admin role;
//   replication.pgpass the replication account's password for the server's
//                      own connections to its source (walreceiver, pg_rewind):
//                      0600 and the server's, as libpq requires; the only
//                      place the password is kept in clear, because the
//                      server must read it (postgresql.conf, readable by
//                      everyone on the host, only names the file);
//   standby.signal     in the data directory: recover as a standby.
// Writing them changes nothing on a running server until reloadRole().
import { userInfo } from 'node:os';
import { chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../sdk/config-file.js';
import { internal } from '../sdk/errors.js';
import { quotePgIdent } from '../sdk/identifiers.js';
import type { OsUser } from '../sdk/os-user.js';
import type { ReplicationState } from '../sdk/replication-state.js';
import { pgpassField } from './basebackup.js';
import { confValue, renderConf, type ConfValue } from './config.js';
import { exec, select, type Sessions } from './connection.js';
import { ADMIN_MAP, hbaOptionsOf, readHba, reloadAndWait, renderHba, writeHba, type FileOwner, type HbaOptions } from './hba.js';
import type { PgPaths } from './paths.js';
import type { PgReplicationFacts } from './replication-facts.js';
import { ADMIN_USER } from './validation.js';

/** The settings replication.conf manages: ALTER SYSTEM values of these would override the agent's, so they are reset. */
export const ROLE_SETTINGS = [
  'primary_conninfo',
  'primary_slot_name',
  'recovery_target_timeline',
  'synchronous_standby_names',
  'default_transaction_read_only',
] as const;

/** Config files are the agent's; the server's group may read them. */
export const configFileOwner = (serverUser: OsUser | undefined): FileOwner => (serverUser ? { uid: process.getuid?.(), gid: serverUser.gid } : {});

/** A libpq connection string: every value single-quoted, with quotes and backslashes escaped. */
export function conninfo(parts: Record<string, string | number>): string {
  return Object.entries(parts)
    .map(([k, v]) => `${k}='${String(v).replace(/[\\']/g, (c) => `\\${c}`)}'`)
    .join(' ');
}

/** Quorum commit: a commit waits until any one of the replicas has flushed it. No replica listed, nothing to wait for. */
export const synchronousStandbyNames = (names: readonly string[]): string => (names.length ? `ANY 1 (${names.map(quotePgIdent).join(', ')})` : '');

/** How a replica reaches its source: the replication account, its password from the pass file, its name there. */
export function sourceConninfo(source: { host: string; port: number; name?: string }, user: string, passFile: string, dbname?: string): string {
  return conninfo({
    host: source.host,
    port: source.port,
    user,
    passfile: passFile,
    ...(source.name ? { application_name: source.name } : {}),
    ...(dbname ? { dbname } : {}),
    connect_timeout: 5,
  });
}

export function roleSettings(st: ReplicationState, facts: PgReplicationFacts, passFile: string): Record<(typeof ROLE_SETTINGS)[number], ConfValue> {
  const source = st.role === 'replica' ? st.source : undefined;
  return {
    primary_conninfo: source ? sourceConninfo(source, facts.user, passFile) : '',
    primary_slot_name: source?.name ?? '',
    // Follow the source across its promotions (a re-pointed replica, a rewound former primary).
    recovery_target_timeline: 'latest',
    synchronous_standby_names: st.role === 'primary' && st.synchronous ? synchronousStandbyNames(facts.served) : '',
    default_transaction_read_only: st.fenced,
  };
}

export function renderReplicationConf(st: ReplicationState, facts: PgReplicationFacts, passFile: string): string {
  return renderConf(
    roleSettings(st, facts, passFile),
    `Rendered by the Steward agent from this instance's place in its replica set (${st.role}${st.fenced ? ', fenced' : ''}).\nLocal edits are overwritten.`,
  );
}

/** The agent's OS account is the admin role, through peer authentication (hba.ts). */
export const renderIdent = (agentUser = userInfo().username): string =>
  `# Rendered by the Steward agent; local edits are overwritten.\n# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n${ADMIN_MAP}  ${agentUser}  ${ADMIN_USER}\n`;

/** The hba options of `st`: what pg_hba.conf had (root), plus the role's. */
export function roleHba(st: ReplicationState, facts: PgReplicationFacts, current: HbaOptions): HbaOptions {
  const member = st.role !== 'standalone';
  return {
    rootOverTcp: current.rootOverTcp,
    adminReplication: true,
    // Once in a set, the admin's password is the set's first primary's: peer for good, even after a detach.
    adminPeer: member || !!current.adminPeer,
    replicationUser: member && facts.user ? facts.user : undefined,
    fenced: st.fenced,
  };
}

export interface RoleFilesDeps {
  paths: PgPaths;
  /** The server's OS account, when the agent runs as root. */
  serverUser: OsUser | undefined;
}

/** Adds the include of replication.conf to a postgresql.conf rendered before replication existed. */
async function ensureIncluded(paths: PgPaths): Promise<void> {
  const conf = await readFile(paths.configFile, 'utf8');
  const line = `include = ${confValue(paths.replicationConf)}`;
  if (conf.split('\n').includes(line)) return;
  await writeFileAtomic(paths.configFile, `${conf.trimEnd()}\n# The role's settings (added by the Steward agent).\n${line}\n`, { mode: 0o644 });
}

/**
 * Writes every file of the role (not standby.signal): replication.conf,
 * pg_ident.conf, pg_hba.conf and, given a password, the pass file. `fresh`:
 * pg_hba.conf is not carried over from an earlier life (prepare).
 */
export async function writeRoleFiles(
  d: RoleFilesDeps,
  st: ReplicationState,
  facts: PgReplicationFacts,
  opts: { password?: string; fresh?: boolean } = {},
): Promise<void> {
  const { paths, serverUser } = d;
  const owner = configFileOwner(serverUser);
  if (opts.password !== undefined) {
    const line = `*:*:*:${pgpassField(facts.user)}:${pgpassField(opts.password)}\n`;
    await writeFileAtomic(paths.replicationPassFile, line, { mode: 0o600, uid: serverUser?.uid, gid: serverUser?.gid });
  }
  await writeFileAtomic(paths.replicationConf, renderReplicationConf(st, facts, paths.replicationPassFile), { mode: 0o644 });
  await ensureIncluded(paths);
  await writeFileAtomic(paths.identFile, renderIdent(), { mode: 0o640, ...owner });
  const current = opts.fresh ? { rootOverTcp: false } : hbaOptionsOf(await readHba(paths.hbaFile));
  await writeHba(paths.hbaFile, renderHba(roleHba(st, facts, current)), owner);
}

/** standby.signal: the server recovers as a standby of primary_conninfo's source from its next start on. */
export async function writeStandbySignal(dataDir: string, serverUser: OsUser | undefined): Promise<void> {
  const file = join(dataDir, 'standby.signal');
  await writeFile(file, '', { mode: 0o600 });
  if (serverUser) await chown(file, serverUser.uid, serverUser.gid);
}

/**
 * Makes the running server use the files: ALTER SYSTEM values of the role's
 * settings (an operator's, in postgresql.auto.conf, which would win) are
 * reset, the files are checked as the server reads them, then reloaded.
 * Resolves once new connections are checked against the new pg_hba.conf.
 */
export async function reloadRole(sessions: Sessions, replicationConf: string, signal: AbortSignal): Promise<void> {
  await sessions(async (s) => {
    const overridden = await select<{ name: string }>(
      s,
      "SELECT DISTINCT name FROM pg_file_settings WHERE name = ANY($1) AND sourcefile LIKE '%/postgresql.auto.conf'",
      [[...ROLE_SETTINGS]],
    );
    // ALTER SYSTEM takes no parameters; the names are the constants above.
    for (const { name } of overridden) await exec(s, `ALTER SYSTEM RESET ${name}`);
    // Only the agent's own files: a memory setting waiting for a restart is not this reload's business.
    const bad = await select<{ file: string; line: number; error: string }>(
      s,
      `SELECT sourcefile AS file, sourceline AS line, error FROM pg_file_settings WHERE error IS NOT NULL AND sourcefile = $1
       UNION ALL SELECT 'pg_hba.conf', line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL`,
      [replicationConf],
    );
    if (bad.length) throw internal(`the server refuses the rendered configuration: ${bad.map((b) => `${b.file}:${b.line}: ${b.error}`).join('; ')}`);
  });
  await reloadAndWait(sessions, signal);
}
