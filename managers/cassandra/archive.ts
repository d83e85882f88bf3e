// The backup's native stream is a tar (GNU tar, its own process): the
// manifest first, then each table's snapshot directory in the server's own
// layout. tar reads the hard-linked, never-changing snapshot files and writes
// to its stdout pipe, so the pipeline's backpressure reaches the disk reads.
import type { ToolCommand } from '../sdk/backup/child-stream.js';
import { MANIFEST_FILE } from './backup-manifest.js';

export const TAR = process.env.STEWARD_TAR ?? '/usr/bin/tar';

/** `dirs` are relative to `dataFiles` and built from validated names (none starts with "-"). */
export function packCommand(manifestDir: string, dataFiles: string, dirs: readonly string[]): ToolCommand {
  return {
    command: TAR,
    args: ['--create', '--file=-', '-C', manifestDir, MANIFEST_FILE, '-C', dataFiles, '--', ...dirs],
  };
}

/**
 * Unpacks into `dest`. Owners in the archive are the source machine's ids:
 * ignored (the caller hands the files to the server's user). GNU tar refuses
 * members with ".." and strips leading "/" by itself.
 */
export function unpackCommand(dest: string): ToolCommand {
  return {
    command: TAR,
    args: ['--extract', '--file=-', '--no-same-owner', '-C', dest],
  };
}
