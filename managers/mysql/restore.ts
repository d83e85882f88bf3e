// Restores a MariaDB backup chain into the instance's empty data directory:
//   1. fetch every backup of the chain to staging and verify size + sha256
//      (and unwrap its key) before anything else happens;
//   2. decrypt/decompress each into `mbstream -x` in its own staging directory;
//   3. mariadb-backup --prepare the full one, then apply each incremental in
//      order (--incremental-dir); MariaDB's tool has no --apply-log-only: its
//      prepare never rolls back, so an incremental can always follow;
//   4. --move-back into the data directory (same file system: renames), chown.
// The data directory is touched only in step 4, from a prepared, verified copy.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { feedStage, spawnStage } from '../sdk/backup/child-stream.js';
import { withFetchedChain } from '../sdk/backup/fetch-chain.js';
import { checkChain, checkSeries } from '../sdk/backup/strategy.js';
import { detectFlavour } from './flavour.js';
import type { RestoreBackupCommand } from '../sdk/backup/types.js';
import { MARIADB_BACKUP, MBSTREAM } from './backup-tool.js';
import { OS_USER, type MysqlPaths } from './paths.js';

const TOOL_TIMEOUT_MS = 6 * 3600_000;

export async function restoreChain({ ctx, paths }: { ctx: ManagerContext; paths: MysqlPaths }, req: RestoreBackupCommand, op: OperationScope): Promise<void> {
  checkChain(req, 'mysql');
  const { signal } = op;
  const flavour = await detectFlavour(ctx.runner);
  const { stdout: installed } = await ctx.runner(flavour.server, ['--version'], { signal, timeoutMs: 30_000 });
  checkSeries(req, installed);
  await withFetchedChain({ ctx, req, op, range: [2, 40], fills: ctx.dataDir }, async (chain, staging) => {
    for (const [i, f] of chain.entries()) {
      op.progress(40 + (20 * i) / chain.length, `unpacking ${f.artifact.backupId}`);
      const dir = join(staging, String(i));
      await mkdir(dir, { mode: 0o700 });
      const x = spawnStage({ command: MBSTREAM, args: ['-x', '-C', dir] }, signal, { stdin: true });
      await feedStage(x, [f.open()], signal);
      await rm(f.file);
    }
    const base = join(staging, '0');
    op.progress(62, `preparing ${chain[0].artifact.backupId}`);
    await ctx.runner(MARIADB_BACKUP, ['--prepare', `--target-dir=${base}`], { signal, timeoutMs: TOOL_TIMEOUT_MS });
    for (let i = 1; i < chain.length; i++) {
      op.progress(62 + (25 * i) / chain.length, `applying incremental ${chain[i].artifact.backupId}`);
      await ctx.runner(MARIADB_BACKUP, ['--prepare', `--target-dir=${base}`, `--incremental-dir=${join(staging, String(i))}`], {
        signal,
        timeoutMs: TOOL_TIMEOUT_MS,
      });
    }
    op.progress(90, 'moving the prepared files into the data directory');
    await mkdir(ctx.dataDir, { recursive: true });
    await ctx.runner(MARIADB_BACKUP, [`--defaults-file=${paths.configFile}`, '--move-back', `--target-dir=${base}`], {
      signal,
      timeoutMs: TOOL_TIMEOUT_MS,
    });
    if (isRoot()) {
      const owner = await lookupOsUser(OS_USER, ctx.runner);
      await ctx.runner('chown', ['-R', `${owner.uid}:${owner.gid}`, ctx.dataDir], { signal, timeoutMs: TOOL_TIMEOUT_MS });
    }
    op.progress(100, `restored ${chain.map((c) => c.artifact.backupId).join(' + ')}`);
  });
}
