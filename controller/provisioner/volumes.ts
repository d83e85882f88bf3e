// Data volumes for local instances: what a cloud block device is to a VM. Each
// instance's data directory is an XFS filesystem in a sparse image file on a
// loop device, mounted before its agent starts, so its size is Steward's to
// manage: reported by the agent (statfs), grown online (the image and the loop
// device here; `xfs_growfs` by the agent, as on a VM after a volume resize),
// never shrunk. XFS because it grows while mounted (ext4's online resize is
// refused in some containers; XFS's is not) and is what Trove's guests use.
import { execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { failedPrecondition } from '../../managers/sdk/errors.js';

const run = promisify(execFile);
const PATH_ENV = { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH ?? ''}` };
const sh = (cmd: string, args: string[]) => run(cmd, args, { env: PATH_ENV, maxBuffer: 1 << 20 });

/** XFS refuses filesystems smaller than this (xfsprogs 6). */
export const MIN_VOLUME_MB = 300;
export const MAX_VOLUME_MB = 16 * 1024 * 1024;

export const imageOf = (stateDir: string): string => join(stateDir, 'volume.img');
export const mountOf = (stateDir: string): string => join(stateDir, 'data');

/** Why this machine cannot give instances volumes, or undefined when it can. */
export async function volumeUnavailableReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'volumes need root (loop devices and mounts)';
  if (!existsSync('/dev/loop-control')) return 'this machine has no loop devices (/dev/loop-control)';
  for (const tool of ['losetup', 'mkfs.xfs', 'xfs_growfs', 'mount', 'umount']) {
    if (
      !(await sh('sh', ['-c', `command -v ${tool}`]).then(
        () => true,
        () => false,
      ))
    )
      return `${tool} is not installed (xfsprogs, util-linux)`;
  }
  return undefined;
}

/** The loop device backing the image, if one is attached. */
async function loopOf(image: string): Promise<string | undefined> {
  const { stdout } = await sh('losetup', ['-j', image, '-O', 'NAME', '-n']);
  return stdout.trim().split('\n').filter(Boolean)[0];
}

const isMounted = (dir: string): boolean =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);

/** A new sparse image of `sizeMb`, formatted and mounted on the instance's data directory. */
export async function createVolume(stateDir: string, sizeMb: number): Promise<void> {
  const image = imageOf(stateDir);
  closeSync(openSync(image, 'w', 0o600));
  truncateSync(image, sizeMb * 1024 * 1024); // sparse: the disk holds what is written, not the size
  const { stdout } = await sh('losetup', ['-f', '--show', image]);
  const loop = stdout.trim();
  try {
    await sh('mkfs.xfs', ['-q', loop]);
    await attachVolume(stateDir);
  } catch (err) {
    await sh('losetup', ['-d', loop]).catch(() => undefined);
    throw err;
  }
}

/** Attaches and mounts an existing image (after a reboot, or right after it was made). */
export async function attachVolume(stateDir: string): Promise<void> {
  const image = imageOf(stateDir);
  const dir = mountOf(stateDir);
  if (isMounted(dir)) return;
  const loop = (await loopOf(image)) ?? (await sh('losetup', ['-f', '--show', image])).stdout.trim();
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await sh('mount', ['-t', 'xfs', '-o', 'noatime', loop, dir]);
}

/** Makes the image and its loop device `sizeMb` (the filesystem is grown by the agent, online). */
export async function growVolume(stateDir: string, sizeMb: number): Promise<void> {
  const image = imageOf(stateDir);
  const current = statSync(image).size / (1024 * 1024);
  if (sizeMb < current) throw failedPrecondition(`a volume is never shrunk: it has ${current} MB, ${sizeMb} MB asked`);
  if (sizeMb === current) return;
  truncateSync(image, sizeMb * 1024 * 1024);
  const loop = await loopOf(image);
  if (loop) await sh('losetup', ['-c', loop]);
}

/** The size of the image, in MB (0 when the instance has none). */
export function volumeSizeMb(stateDir: string): number {
  const image = imageOf(stateDir);
  return existsSync(image) ? statSync(image).size / (1024 * 1024) : 0;
}

/** Unmounts and detaches (the processes using it are gone); the image goes with the state directory. */
export async function releaseVolume(stateDir: string): Promise<void> {
  const image = imageOf(stateDir);
  if (!existsSync(image)) return;
  const dir = mountOf(stateDir);
  // Lazily if something still holds it: the mount must not outlive its instance.
  if (isMounted(dir)) await sh('umount', [dir]).catch(() => sh('umount', ['-l', dir]));
  const loop = await loopOf(image);
  if (loop) await sh('losetup', ['-d', loop]);
  rmSync(image, { force: true });
}
