// "Prepared" is a marker file that prepare writes last: it survives agent
// restarts, and nothing an interrupted prepare did before it counts, so a
// retry may wipe and redo all of it.
import { access } from 'node:fs/promises';
import { writeFileAtomic } from './config-file.js';
import type { ManagerContext } from './contract.js';
import type { ServiceSpec } from './service-control.js';

export async function isPrepared(marker: string): Promise<boolean> {
  return access(marker).then(
    () => true,
    () => false,
  );
}

/** `facts`: what the instance was prepared with, for whoever reads the file. */
export async function markPrepared(marker: string, facts: Record<string, unknown> = {}): Promise<void> {
  await writeFileAtomic(marker, `${JSON.stringify({ ...facts, at: new Date().toISOString() })}\n`, { mode: 0o644 });
}

/** Runs the steps of prepare that start the server, up to and including the marker. */
export async function stopIfFailed(ctx: Pick<ManagerContext, 'service' | 'log'>, spec: ServiceSpec, steps: () => Promise<void>): Promise<void> {
  try {
    await steps();
  } catch (err) {
    // Not prepared means nothing to keep: stop rather than leave a half-made server being restarted.
    await ctx.service.stop(spec).catch((e: Error) => ctx.log.warn({ err: e.message }, 'stop after failed prepare failed'));
    throw err;
  }
}
