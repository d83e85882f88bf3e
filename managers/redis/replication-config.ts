// redis.conf as replication needs it: a replica's `replicaof`, `masteruser`
// and `masterauth`, and a fenced server's write refusal, written into the file
// as well as set on the running server, so a restarted server keeps its role
// and its fence. prepare saves the settings it rendered from (a resize changes
// their memory); a role change renders the same file again with the new role.
//
// `masterauth` is the replication password in clear (Redis needs it to log in
// to its source), so the file is 0600 and owned by the server's OS user, which
// must read it; the directory stays the agent's, so the server cannot rewrite
// the file (CONFIG REWRITE renames a temporary file into place and fails).
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../sdk/config-file.js';
import { ConfigurationState } from '../sdk/configuration-state.js';
import type { ManagerContext } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isRoot, lookupOsUser, type OsUser } from '../sdk/os-user.js';
import { registerSecret } from '../sdk/redact.js';
import type { ReplicationState } from '../sdk/replication-state.js';
import type { ReplicationCredentials } from '../sdk/replication.js';
import { renderRedisConf, type ReplicationSettings, type ServerSettings } from './config.js';
import { OS_USER, REPLICATION_SECRET, type RedisPaths } from './paths.js';

export type ConfigContext = Pick<ManagerContext, 'runner' | 'secrets'>;

/** Who owns the server's files: its OS user when the agent runs as root, the agent itself otherwise. */
export async function serverOwner(ctx: Pick<ManagerContext, 'runner'>): Promise<OsUser | undefined> {
  return isRoot() ? lookupOsUser(OS_USER, ctx.runner) : undefined;
}

/** Kept so that the config file can be rendered again while the server is down (a fence, a rejoin). */
export async function saveCredentials(ctx: ConfigContext, creds: ReplicationCredentials): Promise<void> {
  registerSecret(creds.password);
  await ctx.secrets.put(REPLICATION_SECRET, JSON.stringify({ user: creds.user, password: creds.password }));
}

export async function loadCredentials(ctx: ConfigContext): Promise<ReplicationCredentials> {
  const text = await ctx.secrets.get(REPLICATION_SECRET);
  if (!text) throw failedPrecondition('this replica has no replication credentials in its secret store: attach it again');
  const creds = JSON.parse(text) as ReplicationCredentials;
  registerSecret(creds.password);
  return creds;
}

async function replicationSettings(ctx: ConfigContext, state: ReplicationState): Promise<ReplicationSettings> {
  if (state.role !== 'replica' || !state.source) return { fenced: state.fenced };
  const creds = await loadCredentials(ctx);
  return { follow: { host: state.source.host, port: state.source.port, user: creds.user, password: creds.password }, fenced: state.fenced };
}

async function render(ctx: ConfigContext, paths: RedisPaths, settings: ServerSettings, state: ReplicationState): Promise<void> {
  const owner = await serverOwner(ctx);
  // Every render carries the group, so a role change or a fence never drops it.
  // redis.conf lives in the instance's config directory, next to the group's state.
  const group = await new ConfigurationState(dirname(paths.configFile)).values();
  const text = renderRedisConf(settings, await replicationSettings(ctx, state), group);
  await writeFileAtomic(paths.configFile, text, { mode: 0o600, uid: owner?.uid, gid: owner?.gid });
}

async function saveSettings(paths: RedisPaths, settings: ServerSettings): Promise<void> {
  await writeFileAtomic(paths.settingsFile, `${JSON.stringify(settings)}\n`, { mode: 0o600 });
}

/** Renders redis.conf and keeps the settings it came from. */
export async function writeConfig(ctx: ConfigContext, paths: RedisPaths, settings: ServerSettings, state: ReplicationState): Promise<void> {
  await saveSettings(paths, settings);
  await render(ctx, paths, settings, state);
}

/** The settings prepare rendered redis.conf from, with the memory of the last resize. */
export async function savedSettings(paths: RedisPaths): Promise<ServerSettings> {
  try {
    return JSON.parse(await readFile(paths.settingsFile, 'utf8')) as ServerSettings;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw failedPrecondition('this instance was prepared before its server settings were kept: its redis.conf cannot be rendered again');
  }
}

/** The same redis.conf with the current role, fence and configuration group (the running server is told separately: CONFIG SET). */
export async function rewriteConfig(ctx: ConfigContext, paths: RedisPaths, state: ReplicationState): Promise<void> {
  await render(ctx, paths, await savedSettings(paths), state);
}

/**
 * A resize: the new memory size kept with the other settings, so every later
 * render (a restart, a role change, a configuration group) derives maxmemory
 * from it rather than from the size the agent was configured or prepared with.
 */
export async function saveMemory(paths: RedisPaths, memoryMb: number): Promise<void> {
  await saveSettings(paths, { ...(await savedSettings(paths)), memoryMb });
}
