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
 * The statement that makes the admin role, on one line (single-user mode ends
 * a statement at a newline). A restored cluster already has one, with the
 * source instance's password: `replace` gives it this instance's instead.
 */
export function adminRoleSql(password: string, replace: boolean): string {
  const role = quotePgIdent(ADMIN_USER);
  const verifier = escapeLiteral(scramVerifier(password));
  const create = `CREATE ROLE ${role} SUPERUSER LOGIN PASSWORD ${verifier}`;
  if (!replace) return `${create};\n`;
  // The role owns whatever it created in the source (databases): altered, not dropped and made again.
  // The dollar-quote tag cannot occur in a verifier (base64 and "$", ":" only).
  return `DO $steward_admin$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = ${escapeLiteral(ADMIN_USER)}) THEN ALTER ROLE ${role} SUPERUSER LOGIN PASSWORD ${verifier}; ELSE ${create}; END IF; END $steward_admin$;\n`;
}

/**
 * Creates the admin role in single-user mode, before the server first
 * listens: no moment exists in which some role could log in without a
 * password (initdb's bootstrap superuser has none, and pg_hba.conf has no
 * trust line to let it in), and no temporary credential is needed. After a
 * restore (`replace`) the same holds: recovery ran without a TCP listener
 * and without hot standby sessions (recovery.ts).
 */
export async function createAdminOffline(
  ctx: Pick<ManagerContext, 'runner'>,
  inst: Installation,
  paths: Pick<PgPaths, 'configFile'>,
  password: string,
  owner: OsUser | undefined,
  signal: AbortSignal,
  opts: { replace?: boolean } = {},
): Promise<void> {
  const sql = adminRoleSql(password, opts.replace ?? false);
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
