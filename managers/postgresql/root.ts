// "Root" for PostgreSQL is the bootstrap superuser `postgres`. It exists from
// initdb on but cannot log in: it has no password, and pg_hba.conf refuses it
// over TCP. Enabling root gives it a generated password (returned once, kept
// by nobody) and a pg_hba.conf line that lets it in over TCP; disabling takes
// both away again and ends its open network sessions.
import { escapeLiteral } from 'pg';
import type { RootOps } from '../sdk/contract.js';
import { quotePgIdent } from '../sdk/identifiers.js';
import { generatePassword } from '../sdk/secrets.js';
import { exec, select, type OpenSessions, type Sessions } from './connection.js';
import { applyHba, hbaAllowsRoot, hbaOptionsOf, readHba, renderHba, type FileOwner } from './hba.js';
import { scramVerifier } from './scram.js';
import { ROOT_USER } from './validation.js';

export interface RootDeps {
  hbaFile: string;
  /** Who pg_hba.conf belongs to (the server's group must read it). */
  owner: () => Promise<FileOwner>;
}

/** pg_hba.conf as it is (replication lines, fence) with root's line changed. */
async function hbaWithRoot(deps: RootDeps, rootOverTcp: boolean): Promise<string> {
  return renderHba({ ...hbaOptionsOf(await readHba(deps.hbaFile)), adminReplication: true, rootOverTcp });
}

export async function enableRoot(sessions: Sessions, deps: RootDeps, signal: AbortSignal): Promise<{ user: string; password: string }> {
  const password = generatePassword();
  await sessions((s) => exec(s, `ALTER ROLE ${quotePgIdent(ROOT_USER)} WITH LOGIN PASSWORD ${escapeLiteral(scramVerifier(password))}`));
  await applyHba(sessions, deps.hbaFile, await hbaWithRoot(deps, true), await deps.owner(), signal);
  return { user: ROOT_USER, password };
}

export async function disableRoot(sessions: Sessions, deps: RootDeps, signal: AbortSignal): Promise<void> {
  await sessions((s) => exec(s, `ALTER ROLE ${quotePgIdent(ROOT_USER)} PASSWORD NULL`));
  await applyHba(sessions, deps.hbaFile, await hbaWithRoot(deps, false), await deps.owner(), signal);
  // Sessions root opened while enabled would otherwise outlive the disable.
  await sessions((s) => select(s, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND client_addr IS NOT NULL', [ROOT_USER]));
}

/** Enabled only when root both has a password and may connect over TCP: one without the other lets nobody in. */
export async function rootStatus(sessions: Sessions, deps: RootDeps): Promise<{ enabled: boolean; user: string }> {
  const [row] = await sessions((s) =>
    select<{ has: boolean }>(s, 'SELECT rolpassword IS NOT NULL AND rolcanlogin AS has FROM pg_authid WHERE rolname = $1', [ROOT_USER]),
  );
  return { enabled: !!row?.has && hbaAllowsRoot(await readHba(deps.hbaFile)), user: ROOT_USER };
}

export function rootOps(open: OpenSessions, deps: RootDeps): RootOps {
  return {
    enable: (op) => enableRoot(open(op.signal), deps, op.signal),
    disable: (op) => disableRoot(open(op.signal), deps, op.signal),
    status: (op) => rootStatus(open(op.signal), deps),
  };
}
