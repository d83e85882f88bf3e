// Settings fixed when the instance is prepared. The port is part of the unix
// socket's name (.s.PGSQL.<port>) and the major version picks the binaries, so
// every later call must use the values prepare used, not whatever the request
// or a newer package would suggest.
import { readFile } from 'node:fs/promises';
import type { ManagerContext } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { internal } from '../sdk/errors.js';
import { findInstallation, type Installation } from './installation.js';
import type { PgPaths } from './paths.js';

export interface InstanceSettings {
  major: number;
  port: number;
  bindAddress: string;
  memoryMb: number;
}

/** Undefined before prepare has written them; a damaged file is an error, never a silent fallback. */
export async function readSettings(paths: PgPaths): Promise<InstanceSettings | undefined> {
  let text: string;
  try {
    text = await readFile(paths.settingsFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let s: Partial<InstanceSettings>;
  try {
    s = JSON.parse(text) as Partial<InstanceSettings>;
  } catch {
    s = {};
  }
  if (!Number.isInteger(s.major) || !Number.isInteger(s.port)) throw internal(`${paths.settingsFile} is damaged`);
  return { major: s.major!, port: s.port!, bindAddress: s.bindAddress ?? '', memoryMb: s.memoryMb ?? 0 };
}

export async function writeSettings(paths: PgPaths, settings: InstanceSettings): Promise<void> {
  await writeFileAtomic(paths.settingsFile, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o644 });
}

/** The port and binaries in force: those recorded at prepare, else the context's port and the newest server. */
export async function effective(ctx: Pick<ManagerContext, 'port'>, paths: PgPaths): Promise<{ port: number; installation: Installation }> {
  const saved = await readSettings(paths);
  return { port: saved?.port ?? ctx.port, installation: await findInstallation(saved?.major) };
}
