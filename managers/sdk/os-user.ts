// Resolves an OS account (the user a datastore server runs as) to numeric ids.
// /etc/passwd answers for local accounts without a child process; getent covers
// accounts that come from NSS (LDAP, sssd) on hosts that use them.
import { readFile } from 'node:fs/promises';
import { failedPrecondition } from './errors.js';
import { run, type Runner } from './runner.js';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The entry for `name` in passwd(5) text, or undefined. */
export function parsePasswd(text: string, name: string): OsUser | undefined {
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] !== name) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === '' || f[3] === '') continue;
    return { name, uid, gid, home: f[5] };
  }
  return undefined;
}

/** Looks up an OS user; FAILED_PRECONDITION when the account does not exist (a host set-up problem). */
export async function lookupOsUser(name: string, runner: Runner = run): Promise<OsUser> {
  // The name reaches getent's argv: refuse anything that could read as an option.
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) throw failedPrecondition(`bad OS user name ${JSON.stringify(name)}`);
  try {
    const found = parsePasswd(await readFile('/etc/passwd', 'utf8'), name);
    if (found) return found;
  } catch {
    // no readable /etc/passwd: getent may still know the account
  }
  try {
    const { stdout } = await runner('getent', ['passwd', name], { timeoutMs: 10_000 });
    const found = parsePasswd(stdout, name);
    if (found) return found;
  } catch {
    // getent exits 2 for an unknown user
  }
  throw failedPrecondition(`OS user ${JSON.stringify(name)} does not exist on this host`);
}

/** True when this process may switch to another uid (and chown files to it). */
export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;
