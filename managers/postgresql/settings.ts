// Settings fixed when the instance is prepared. The port is part of the unix
// socket's name (.s.PGSQL.<port>) and the major version picks the binaries, so
// every later call must use the values prepare used, not whatever the request
// or a newer package would suggest. The memory size is the one exception: a
// resize records the new one here, and every render reads it from here.
import { readFile } from 'node:fs/promises';
import type { ManagerContext, TlsFiles } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { internal } from '../sdk/errors.js';
import { findInstallation, type Installation } from './installation.js';
import type { PgPaths } from './paths.js';

export interface InstanceSettings {
  major: number;
  port: number;
  bindAddress: string;
  memoryMb: number;
  /**
   * The certificate prepare issued (null: the agent has none to give), so that
   * postgresql.conf can be rendered again without issuing another. Absent in
   * files written before it was recorded.
   */
  tls?: TlsFiles | null;
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
  return {
    major: s.major!,
    port: s.port!,
    bindAddress: s.bindAddress ?? '',
    memoryMb: s.memoryMb ?? 0,
    ...(s.tls === undefined ? {} : { tls: s.tls }),
  };
}

export async function writeSettings(paths: PgPaths, settings: InstanceSettings): Promise<void> {
  await writeFileAtomic(paths.settingsFile, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o644 });
}

/** The settings prepare wrote with `change` made, written atomically; before prepare there is nothing to change. */
export async function updateSettings(paths: PgPaths, change: Partial<InstanceSettings>): Promise<InstanceSettings> {
  const saved = await readSettings(paths);
  if (!saved) throw internal(`${paths.settingsFile} is missing: the instance was not prepared`);
  const next = { ...saved, ...change };
  await writeSettings(paths, next);
  return next;
}

/** The port and binaries in force: those recorded at prepare, else the context's port and the newest server. */
export async function effective(ctx: Pick<ManagerContext, 'port'>, paths: PgPaths): Promise<{ port: number; installation: Installation }> {
  const saved = await readSettings(paths);
  return { port: saved?.port ?? ctx.port, installation: await findInstallation(saved?.major) };
}
