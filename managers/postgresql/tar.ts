// GNU tar for the WAL of incremental backups (pg_basebackup writes its own
// tar) and for unpacking both on restore. Unpacking runs as the server's OS
// user: the files come out owned by it, and whatever the archive holds can
// write nowhere that user could not.
import type { Readable } from 'node:stream';
import { feedStage, spawnStage } from '../sdk/backup/child-stream.js';
import { tap } from '../sdk/backup/digest.js';
import type { OsUser } from '../sdk/os-user.js';
import { toolEnv } from './secure.js';

export const TAR = process.env.STEWARD_TAR ?? '/usr/bin/tar';

/** Unpacks the tar stream `source` into `dir` (which exists); `onBytes` counts what was read. */
export async function untar(source: Readable, dir: string, owner: OsUser | undefined, signal: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
  const x = spawnStage(
    // --ignore-zeros: read to the end of the input instead of stopping at the end-of-archive blocks, so
    // the padding after them is consumed (no EPIPE) and decryption gets to check the stream's final record.
    { command: TAR, args: ['-x', '-f', '-', '-C', dir, '--no-same-owner', '--ignore-zeros'], uid: owner?.uid, gid: owner?.gid, env: toolEnv() },
    signal,
    { stdin: true },
  );
  try {
    await feedStage(x, [source, tap({ onBytes })], signal);
  } finally {
    x.kill();
  }
}
