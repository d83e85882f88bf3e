// Restores a PostgreSQL backup chain into the instance's empty data directory
// (prepare calls this in place of initdb, with the configuration rendered):
//   1. check the chain's facts, then fetch every backup of it to staging and
//      verify size + sha256 (and unwrap its key) before anything else happens;
//   2. unpack the full backup into the data directory and the incrementals'
//      WAL into a restore directory, as the server's OS user;
//   3. recover (recovery.ts): start with recovery.signal and a restore_command
//      reading that directory, replay to the end of the last backup, promote,
//      stop; the recovery settings are taken out again.
// The data directory is touched only in step 2, from verified objects. A
// failure from then on stops the server and empties the data directory:
// nothing half-restored is ever served, and prepare stays failed.
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { emptyDir, ownedBy } from '../sdk/data-dir.js';
import { failedPrecondition } from '../sdk/errors.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { withFetchedChain } from '../sdk/backup/fetch-chain.js';
import { byteProgress } from '../sdk/backup/progress.js';
import { checkChain } from '../sdk/backup/strategy.js';
import type { RestoreBackupCommand } from '../sdk/backup/types.js';
import { checkChainFacts, majorOf, readFacts } from './backup-facts.js';
import { findInstallation } from './installation.js';
import { OS_USER, serviceSpec, type PgPaths } from './paths.js';
import { recoverySettings, waitForRecovery, withRecoveryConfig, type RecoveryTarget } from './recovery.js';
import { readSettings } from './settings.js';
import { untar } from './tar.js';

/** The chain with each backup's facts, refused (before anything is touched) unless it can replay. */
export function checkRestoreChain(req: RestoreBackupCommand) {
  checkChain(req, 'postgresql');
  const chain = req.chain.map((item) => ({ item, a: item.artifact!, facts: readFacts(item.artifact!) }));
  checkChainFacts(chain.map((c) => ({ id: c.a.backupId, facts: c.facts })));
  return chain;
}

export async function restoreChain({ ctx, paths }: { ctx: ManagerContext; paths: PgPaths }, req: RestoreBackupCommand, op: OperationScope): Promise<void> {
  const chain = checkRestoreChain(req);
  const { signal } = op;
  const inst = await findInstallation((await readSettings(paths))?.major);
  const major = majorOf(chain[0].facts.versionNum);
  if (major !== inst.major) throw failedPrecondition(`backup ${chain[0].a.backupId} is of PostgreSQL ${major}; this instance runs ${inst.major}`);
  const last = chain[chain.length - 1];
  const target: RecoveryTarget = last.facts.restorePoint ? { kind: 'restore_point', name: last.facts.restorePoint } : { kind: 'immediate' };

  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;
  const walDir = join(ctx.stateDir, 'restore-wal');
  const spec = serviceSpec(inst, paths);
  let touched = false;
  try {
    await withFetchedChain({ ctx, req, op, range: [2, 40], fills: ctx.dataDir }, async (fetched) => {
      touched = true;
      await rm(walDir, { recursive: true, force: true });
      await mkdir(walDir, { mode: 0o700 });
      await ownedBy(walDir, owner, 0o700);
      const raw = chain.reduce((n, c) => n + c.a.rawSize, 0);
      let unpacked = 0;
      for (const [i, f] of fetched.entries()) {
        const report = byteProgress(op, `unpacking ${f.artifact.backupId}`, [40, 60], raw);
        const base = unpacked;
        await untar(f.open(), i === 0 ? ctx.dataDir : walDir, owner, signal, (b) => report(base + b));
        await rm(f.file);
        unpacked += f.artifact.rawSize;
      }

      const recoverySignal = join(ctx.dataDir, 'recovery.signal');
      await writeFile(recoverySignal, '', { mode: 0o600 });
      if (owner) await chown(recoverySignal, owner.uid, owner.gid);
      op.progress(
        60,
        `recovering to ${target.kind === 'immediate' ? `the end of ${chain[0].a.backupId}` : `restore point ${target.name} of ${last.a.backupId}`}`,
      );
      let lastReport = 0;
      await withRecoveryConfig(paths.configFile, recoverySettings(walDir, target), async () => {
        try {
          await ctx.service.start(spec, signal);
          await waitForRecovery(
            {
              ctx,
              inst,
              spec,
              paths,
              onWaiting: (state) => {
                if (Date.now() - lastReport < 5_000) return;
                lastReport = Date.now();
                op.progress(70, `recovering (${state})`);
              },
            },
            signal,
          );
          op.progress(95, 'recovered; stopping the server');
        } finally {
          await ctx.service.stop(spec);
        }
      });
    });
    op.progress(100, `restored ${chain.map((c) => c.a.backupId).join(' + ')}`);
  } catch (err) {
    if (touched) {
      await ctx.service.stop(spec).catch(() => undefined);
      await emptyDir(ctx.dataDir).catch((e: Error) => ctx.log.warn({ err: e.message }, 'could not empty the data directory after a failed restore'));
    }
    throw err;
  } finally {
    await rm(walDir, { recursive: true, force: true });
  }
}
