// my.cnf as replication needs it: a server id unique to the instance, and the
// role's settings (read_only on a replica, semi-synchronous settings) written
// into the file so a restart keeps them. prepare saves the settings it rendered
// from; a role change renders the same file again with the new role. Every
// render lays the configuration group's values over Steward's defaults, so no
// role change or restart drops them. A resize changes only the saved memory
// size, so every later render (role change, group, restart) keeps it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../sdk/config-file.js';
import { ConfigurationState } from '../sdk/configuration-state.js';
import type { ReplicationState } from '../sdk/replication-state.js';
import { renderMyCnf, type ReplicationSettings, type ServerSettings } from './config.js';
import { parameterEntries } from './parameters.js';
import type { MysqlPaths } from './paths.js';

/** 1 .. 2^32-1, from the instance id: distinct in a replica set unless two ids collide in 32 bits. */
export function serverIdOf(instanceId: string): number {
  return (Number.parseInt(createHash('sha256').update(instanceId).digest('hex').slice(0, 8), 16) % 4_294_967_294) + 1;
}

export function replicationSettings(state: ReplicationState): ReplicationSettings {
  return {
    readOnly: state.role === 'replica' || state.fenced,
    semiSyncSource: state.role === 'primary' && state.synchronous,
    semiSyncReplica: state.role === 'replica' && state.synchronous,
  };
}

/** my.cnf from the settings, the role and the configuration group (ServerManager keeps it in the config directory, beside my.cnf). */
async function render(paths: MysqlPaths, settings: ServerSettings, state: ReplicationState): Promise<void> {
  const group = await new ConfigurationState(dirname(paths.configFile)).values();
  const text = renderMyCnf(settings, replicationSettings(state), parameterEntries(settings.memoryMb, group));
  await writeFileAtomic(paths.configFile, text, { mode: 0o644 });
}

const saveSettings = (paths: MysqlPaths, settings: ServerSettings) => writeFileAtomic(paths.settingsFile, `${JSON.stringify(settings)}\n`, { mode: 0o600 });

const loadSettings = async (paths: MysqlPaths): Promise<ServerSettings> => JSON.parse(await readFile(paths.settingsFile, 'utf8')) as ServerSettings;

/** Renders my.cnf and keeps the settings it came from. */
export async function writeConfig(paths: MysqlPaths, settings: ServerSettings, state: ReplicationState): Promise<void> {
  await saveSettings(paths, settings);
  await render(paths, settings, state);
}

/** The same my.cnf with the current role and group (the running server is told separately: SET GLOBAL). */
export async function rewriteConfig(paths: MysqlPaths, state: ReplicationState): Promise<ServerSettings> {
  const settings = await loadSettings(paths);
  await render(paths, settings, state);
  return settings;
}

/** The memory size every render uses (prepare's, or the last resize's); undefined before prepare saved any. */
export async function savedMemoryMb(paths: MysqlPaths): Promise<number | undefined> {
  try {
    return (await loadSettings(paths)).memoryMb;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Records a new memory size in the saved settings; my.cnf is rendered from it the next time anything renders. */
export async function saveMemoryMb(paths: MysqlPaths, memoryMb: number): Promise<void> {
  if (!Number.isInteger(memoryMb) || memoryMb <= 0) throw new Error(`memory size must be a positive integer of MB, not ${memoryMb}`);
  await saveSettings(paths, { ...(await loadSettings(paths)), memoryMb });
}
