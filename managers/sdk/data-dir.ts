// The directories prepare hands a server. A retried prepare starts from an
// empty data directory (there is no user data before the prepared marker), and
// the server's OS user gets only what it must write: the rest stays the agent's.
import { chmod, chown, mkdir, open, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { ManagerContext } from './contract.js';
import { internal } from './errors.js';
import type { OsUser } from './os-user.js';

const SYSTEM_DIRS = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
  '/var/lib',
]);

/** Removes everything inside `dir`, keeping the directory itself (its owner and mode stay). */
export async function emptyDir(dir: string): Promise<void> {
  // The data directory comes from the agent's config: a typo there must not wipe the machine.
  if (!isAbsolute(dir) || SYSTEM_DIRS.has(resolve(dir))) throw internal(`refusing to wipe ${dir}`);
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
}

/** Sets the mode, and hands the path to `owner` when the agent runs as root (otherwise there is nobody else). */
export async function ownedBy(path: string, owner: OsUser | undefined, mode: number): Promise<void> {
  await chmod(path, mode);
  if (owner) await chown(path, owner.uid, owner.gid);
}

/** Creates a file the server opens itself (its log) inside a directory that may be the agent's: only the file is handed over. */
export async function handOverFile(path: string, owner: OsUser | undefined): Promise<void> {
  await (await open(path, 'a', 0o640)).close();
  if (owner) await chown(path, owner.uid, owner.gid);
}

/**
 * Creates the context's directories, empties the data directory and hands it
 * (with `dataMode`) and the run directory, where the server creates its socket,
 * to the server's OS user.
 */
export async function prepareInstanceDirs(
  ctx: Pick<ManagerContext, 'dataDir' | 'configDir' | 'runDir' | 'logDir'>,
  owner: OsUser | undefined,
  dataMode: number,
): Promise<void> {
  for (const dir of [ctx.dataDir, ctx.configDir, ctx.runDir, ctx.logDir]) await mkdir(dir, { recursive: true });
  await emptyDir(ctx.dataDir);
  await ownedBy(ctx.dataDir, owner, dataMode);
  await ownedBy(ctx.runDir, owner, 0o755);
}
