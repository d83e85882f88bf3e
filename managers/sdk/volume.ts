// Growing the filesystem under an instance's data directory, online, after its
// block device was made bigger (a cloud volume resize; a loop device for local
// instances). XFS only: it is what Steward's volumes are made with, and it grows
// while mounted. The same for every datastore: the server keeps running.
import { readFile } from 'node:fs/promises';
import type { ManagerContext, OperationScope } from './contract.js';
import { failedPrecondition } from './errors.js';

/** The mount under the data directory, as /proc/self/mounts has it (undefined: the data is not on a volume of its own). */
async function mountAt(dir: string): Promise<{ fstype: string } | undefined> {
  for (const line of (await readFile('/proc/self/mounts', 'utf8')).split('\n')) {
    const [, target, fstype] = line.split(' ');
    if (target === dir) return { fstype: fstype ?? '' };
  }
  return undefined;
}

export async function growFilesystem(ctx: Pick<ManagerContext, 'dataDir' | 'runner'>, op: OperationScope): Promise<void> {
  const mount = await mountAt(ctx.dataDir);
  if (!mount) throw failedPrecondition(`the data directory is not a volume of its own: nothing to grow`);
  if (mount.fstype !== 'xfs') throw failedPrecondition(`the data volume is ${mount.fstype}; Steward grows XFS volumes only`);
  op.progress(20, 'growing the filesystem');
  await ctx.runner('xfs_growfs', [ctx.dataDir], { signal: op.signal });
  op.progress(100, 'grown');
}
