// Restores a Redis backup (one RDB snapshot: Redis backups are full only) into
// the instance's empty data directory:
//   1. fetch the stored object to staging and verify size + sha256 (and unwrap
//      its key) before anything else happens;
//   2. decrypt and decompress it into a hidden file in the AOF directory;
//   3. redis-check-rdb it (rdb-check.ts);
//   4. make it the AOF base (restore-aof.ts), manifest last.
// The data directory is touched only from step 2, with verified bytes, and
// holds a loadable AOF only once all four steps succeeded; on failure it is
// left empty. Users are not part of it: an RDB holds no ACL, and the instance
// keeps the ACL file prepare wrote for it.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { tap } from '../sdk/backup/digest.js';
import { withFetchedChain } from '../sdk/backup/fetch-chain.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { checkChain } from '../sdk/backup/strategy.js';
import type { RestoreBackupCommand, RestoreItem } from '../sdk/backup/types.js';
import { OS_USER, findRedisServer } from './paths.js';
import { checkRdbFile, type RdbSummary } from './rdb-check.js';
import { aofLayout, installAofBase, makeAofDir } from './restore-aof.js';

export const DATASTORE = 'redis';

export interface RestoredSnapshot extends RdbSummary {
  backupId: string;
}

/** The one backup a Redis restore is made of; refused before anything is fetched. */
export function checkRestore(req: RestoreBackupCommand): RestoreItem {
  checkChain(req, DATASTORE);
  if (req.chain.length !== 1) {
    throw failedPrecondition(`Redis backups are full snapshots: a restore takes exactly one backup, not a chain of ${req.chain.length}`);
  }
  return req.chain[0];
}

export async function restoreSnapshot(ctx: ManagerContext, req: RestoreBackupCommand, op: OperationScope): Promise<RestoredSnapshot> {
  checkRestore(req);
  const { signal } = op;
  const server = await findRedisServer();
  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;
  const layout = aofLayout(ctx.dataDir);
  return withFetchedChain({ ctx, req, op, range: [2, 50], fills: ctx.dataDir }, async ([fetched]) => {
    const a = fetched.artifact;
    try {
      await makeAofDir(layout, owner);
      // Hidden, and not named in any manifest: the server would never load it by accident.
      const unpacked = join(layout.dir, `.restore-${randomBytes(4).toString('hex')}.partial`);
      const unpacking = byteProgress(op, `unpacking ${a.backupId}`, [50, 85], a.rawSize);
      await pipeline(fetched.open(), tap({ onBytes: unpacking }), createWriteStream(unpacked, { flags: 'wx', mode: 0o600 }), { signal });
      await rm(fetched.file);

      op.progress(86, `checking the RDB file of ${a.backupId}`);
      const summary = await checkRdbFile({ runner: ctx.runner, server, file: unpacked, backupId: a.backupId, signal });
      op.progress(95, 'placing the snapshot as the base of the append-only file');
      await installAofBase(layout, unpacked, owner);
      op.progress(100, `restored ${a.backupId}: ${summary.keys} keys`);
      return { backupId: a.backupId, ...summary };
    } catch (err) {
      // A failed restore leaves the data directory as it found it: empty.
      await rm(layout.dir, { recursive: true, force: true });
      throw err;
    }
  });
}
