// Securing a freshly initialised cluster: the agent's admin role, and
// PostgreSQL's permissive defaults taken back.
import { escapeLiteral } from 'pg';
import type { ManagerContext } from '../sdk/contract.js';
import { internal } from '../sdk/errors.js';
import { quotePgIdent } from '../sdk/identifiers.js';
import type { OsUser } from '../sdk/os-user.js';
import { exec, type Session } from './connection.js';
import { bin, type Installation } from './installation.js';
import { MAINTENANCE_DB, type PgPaths } from './paths.js';
import { scramVerifier } from './scram.js';
import { ADMIN_USER, ROOT_USER } from './validation.js';

/** What tools run as the server's user get from the agent's environment: nothing that could hold a credential. */
export const toolEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C' });

/**
 * Creates the admin role in single-user mode, before the server first
 * listens: no moment exists in which some role could log in without a
 * password (initdb's bootstrap superuser has none, and pg_hba.conf has no
 * trust line to let it in), and no temporary credential is needed.
 */
export async function createAdminOffline(
  ctx: Pick<ManagerContext, 'runner'>,
  inst: Installation,
  paths: Pick<PgPaths, 'configFile'>,
  password: string,
  owner: OsUser | undefined,
  signal: AbortSignal,
): Promise<void> {
  const sql = `CREATE ROLE ${quotePgIdent(ADMIN_USER)} SUPERUSER LOGIN PASSWORD ${escapeLiteral(scramVerifier(password))};\n`;
  const { stderr } = await ctx.runner(bin(inst, 'postgres'), ['--single', '-c', `config_file=${paths.configFile}`, MAINTENANCE_DB], {
    input: sql,
    uid: owner?.uid,
    gid: owner?.gid,
    cwd: '/',
    env: toolEnv(),
    signal,
    timeoutMs: 5 * 60_000,
  });
  // Single-user mode reports a failed statement on stderr and still exits 0.
  // Only the error lines are kept: the statement it echoes holds the verifier.
  const errors = stderr.split('\n').filter((l) => /\b(ERROR|FATAL|PANIC):/.test(l));
  if (errors.length) throw internal(`creating the admin role failed: ${errors.join('; ')}`);
}

/** Once the server runs, as the admin role. */
export async function secureInstallation(s: Session): Promise<void> {
  // PostgreSQL grants CONNECT and TEMPORARY on every database to PUBLIC; users
  // must reach only the databases they were granted.
  for (const db of [MAINTENANCE_DB, 'template1']) await exec(s, `REVOKE ALL ON DATABASE ${quotePgIdent(db)} FROM PUBLIC`);
  // initdb leaves root without one already; said again so that this holds whatever initdb's defaults become.
  await exec(s, `ALTER ROLE ${quotePgIdent(ROOT_USER)} PASSWORD NULL`);
}
