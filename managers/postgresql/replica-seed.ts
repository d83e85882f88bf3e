// A new replica's data directory from a backup chain of its source. Unlike a
// restore (restore.ts), nothing is recovered here and nothing is promoted:
// the copy stays the source's cluster, on the source's timeline, and becomes
// a standby when the server starts with standby.signal. It replays the WAL
// the full backup carries (pg_basebackup -X fetch) to reach a consistent
// state, then the WAL of the incrementals, unpacked straight into pg_wal
// (recovery reads segments there before it asks the source), then whatever
// the source kept for it in its slot since before the backup began.
//
// Verified before anything is written, as every restore (fetch-chain.ts); a
// failure once the data directory was touched empties it again.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { emptyDir } from '../sdk/data-dir.js';
import { failedPrecondition } from '../sdk/errors.js';
import type { OsUser } from '../sdk/os-user.js';
import { withFetchedChain } from '../sdk/backup/fetch-chain.js';
import { byteProgress } from '../sdk/backup/progress.js';
import type { RestoreBackupCommand } from '../sdk/backup/types.js';
import { majorOf } from './backup-facts.js';
import type { Installation } from './installation.js';
import { checkRestoreChain } from './restore.js';
import { untar } from './tar.js';

export async function seedReplica(
  o: { ctx: ManagerContext; inst: Installation; owner: OsUser | undefined },
  req: RestoreBackupCommand,
  op: OperationScope,
): Promise<void> {
  const { ctx, inst, owner } = o;
  const chain = checkRestoreChain(req);
  const major = majorOf(chain[0].facts.versionNum);
  if (major !== inst.major) throw failedPrecondition(`backup ${chain[0].a.backupId} is of PostgreSQL ${major}; this instance runs ${inst.major}`);
  let touched = false;
  try {
    await withFetchedChain({ ctx, req, op, range: [2, 80], fills: ctx.dataDir }, async (fetched) => {
      touched = true;
      const raw = chain.reduce((n, c) => n + c.a.rawSize, 0);
      let unpacked = 0;
      for (const [i, f] of fetched.entries()) {
        const report = byteProgress(op, `unpacking ${f.artifact.backupId}`, [80, 100], raw);
        const base = unpacked;
        await untar(f.open(), i === 0 ? ctx.dataDir : join(ctx.dataDir, 'pg_wal'), owner, op.signal, (b) => report(base + b));
        await rm(f.file);
        unpacked += f.artifact.rawSize;
      }
    });
  } catch (err) {
    if (touched) await emptyDir(ctx.dataDir).catch((e: Error) => ctx.log.warn({ err: e.message }, 'could not empty the data directory after a failed seed'));
    throw err;
  }
}
