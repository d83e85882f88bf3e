// Recovery of a restored data directory: the server replays the backup's WAL
// (the full backup's own, then the incrementals' from a restore directory
// through restore_command) up to the end of the chosen backup, promotes, and is
// stopped again. Nobody can reach it meanwhile: no TCP listener and no hot
// standby sessions, so the restored cluster's own roles (the source's, with the
// source's passwords) cannot be used until prepare has reset the admin.
//
// The settings are appended to the rendered postgresql.conf for the duration
// and the file is put back afterwards (a later entry wins in postgresql.conf).
// How far to replay:
//   - a full backup alone: recovery_target = 'immediate', the moment the copy
//     is consistent, i.e. the end of that backup;
//   - a chain: the restore point the last incremental created just before its
//     WAL switch (recovery_target_name). Either way a target that is never
//     reached (WAL missing) fails the restore instead of ending short.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagerContext } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { ServiceSpec } from '../sdk/service-control.js';
import { renderConf, type ConfValue } from './config.js';
import { bin, type Installation } from './installation.js';
import type { PgPaths } from './paths.js';
import { logTail } from './readiness.js';
import { toolEnv } from './secure.js';
import { restoreCommand } from './wal-archive.js';

export type RecoveryTarget = { kind: 'immediate' } | { kind: 'restore_point'; name: string };

export function recoverySettings(restoreDir: string, target: RecoveryTarget): Record<string, ConfValue> {
  return {
    restore_command: restoreCommand(restoreDir),
    ...(target.kind === 'immediate' ? { recovery_target: 'immediate' } : { recovery_target_name: target.name }),
    recovery_target_action: 'promote',
    // The backup's own timeline: a chain never crosses a timeline switch.
    recovery_target_timeline: 'current',
    hot_standby: false,
    listen_addresses: '',
  };
}

/** Runs `fn` with the recovery settings appended to postgresql.conf, and puts the file back afterwards. */
export async function withRecoveryConfig<T>(configFile: string, settings: Record<string, ConfValue>, fn: () => Promise<T>): Promise<T> {
  const original = await readFile(configFile, 'utf8');
  const extra = renderConf(settings, 'Recovery of a restored backup (temporary: removed once recovery has finished).');
  await writeFileAtomic(configFile, `${original}\n${extra}`, { mode: 0o644 });
  try {
    return await fn();
  } finally {
    await writeFileAtomic(configFile, original, { mode: 0o644 });
  }
}

/** pg_controldata's "Name:   value" lines. */
export function parseControlData(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(.*?)\s*$/.exec(line);
    if (m) out[m[1].trim()] = m[2];
  }
  return out;
}

export async function clusterState(ctx: Pick<ManagerContext, 'runner'>, inst: Installation, dataDir: string, signal: AbortSignal): Promise<string> {
  const { stdout } = await ctx.runner(bin(inst, 'pg_controldata'), [dataDir], { env: toolEnv(), signal, timeoutMs: 30_000 });
  return parseControlData(stdout)['Database cluster state'] ?? '';
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Resolves once recovery has finished and the cluster is promoted. The server
 * removes recovery.signal at the end of recovery and only then records "in
 * production" (the control file restored from the backup says "in production"
 * too, from the source, so the state alone proves nothing until the signal
 * file is gone). A server that stops meanwhile failed to recover: its log says why.
 */
export async function waitForRecovery(
  o: {
    ctx: Pick<ManagerContext, 'runner' | 'service'>;
    inst: Installation;
    spec: ServiceSpec;
    paths: Pick<PgPaths, 'dataDir' | 'consoleLog' | 'serverLogDir'>;
    onWaiting?: (state: string) => void;
  },
  signal: AbortSignal,
): Promise<void> {
  const signalFile = join(o.paths.dataDir, 'recovery.signal');
  for (;;) {
    signal.throwIfAborted();
    const state = (await exists(signalFile)) ? 'in archive recovery' : await clusterState(o.ctx, o.inst, o.paths.dataDir, signal);
    if (state === 'in production') return;
    if ((await o.ctx.service.state(o.spec)) !== 'running') {
      const tail = await logTail(o.paths, 12);
      throw failedPrecondition(`the restored backup did not recover (the server stopped in ${state})${tail ? `:\n${tail}` : ''}`);
    }
    o.onWaiting?.(state);
    await sleep(250, undefined, { signal });
  }
}
