// A full backup: pg_basebackup's tar, scanned on its way into the pipeline for
// the WAL positions it covers. While it runs, a session of the agent holds a
// temporary physical replication slot created before the copy starts: with
// `-X fetch` the WAL is collected at the end, and the slot keeps the server
// from recycling it meanwhile however long the copy takes. The slot belongs
// to the session, so it is gone when the backup ends or the agent dies.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { spawnStage } from '../sdk/backup/child-stream.js';
import { gatedByExit, type Saved } from '../sdk/backup/pipeline.js';
import type { ManagerContext } from '../sdk/contract.js';
import { isRoot, lookupOsUser } from '../sdk/os-user.js';
import { basebackupCommand, fullBackupFacts, removePasswordFile, writePasswordFile, type WalSpan } from './basebackup.js';
import { exec, select, sessionsWith, withSession, type SessionOptions } from './connection.js';
import { applyHba, hbaAllowsAdminReplication, hbaOptionsOf, renderHba } from './hba.js';
import type { Installation } from './installation.js';
import { OS_USER, type PgPaths } from './paths.js';
import { tarScanner } from './tar-scan.js';

export interface FullBackupInput {
  ctx: ManagerContext;
  paths: PgPaths;
  inst: Installation;
  admin: SessionOptions;
  /** The backup's private work directory (0700): the password file lives there for the run. */
  work: string;
  backupId: string;
  segmentSize: number;
  signal: AbortSignal;
  /** Streams `source` through the shared pipeline; `expectedBytes` is for progress. */
  save: (source: Readable, expectedBytes: number) => Promise<Saved>;
}

/**
 * Instances prepared before backups existed have no replication line for the
 * admin in pg_hba.conf: add it (every other line kept as it is) and reload.
 */
async function allowAdminReplication(i: FullBackupInput): Promise<void> {
  const current = await readFile(i.paths.hbaFile, 'utf8');
  if (hbaAllowsAdminReplication(current)) return;
  const owner = isRoot() ? { uid: process.getuid?.(), gid: (await lookupOsUser(OS_USER, i.ctx.runner)).gid } : {};
  const text = renderHba({ ...hbaOptionsOf(current), adminReplication: true });
  await applyHba(
    sessionsWith(async () => i.admin, i.signal),
    i.paths.hbaFile,
    text,
    owner,
    i.signal,
  );
}

/** Runs `fn` while a session holds a temporary slot reserving WAL from now on. */
async function whileWalReserved<T>(admin: SessionOptions, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  let outcome = { error: new Error('the WAL-reserving session ended early') } as { value: T } | { error: unknown };
  await withSession(
    admin,
    async (s) => {
      await exec(s, 'SELECT pg_create_physical_replication_slot($1, true, true)', [`steward_backup_${randomBytes(6).toString('hex')}`]);
      try {
        outcome = { value: await fn() };
      } catch (error) {
        // Kept apart from the session's errors: a storage failure is not a PostgreSQL one.
        outcome = { error };
      }
    },
    signal,
  );
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

export async function fullBackup(i: FullBackupInput): Promise<{ saved: Saved; facts: WalSpan }> {
  await allowAdminReplication(i);
  const [{ bytes }] = await withSession(
    i.admin,
    (s) => select<{ bytes: string }>(s, 'SELECT sum(pg_database_size(oid))::text AS bytes FROM pg_database'),
    i.signal,
  );
  const passFile = await writePasswordFile(i.work, i.admin.password);
  try {
    return await whileWalReserved(i.admin, i.signal, async () => {
      const tool = spawnStage(
        basebackupCommand({ inst: i.inst, socketDir: i.paths.socketDir, port: i.admin.port, passFile, label: `steward ${i.backupId}`, cwd: i.work }),
        i.signal,
      );
      try {
        const scan = tarScanner();
        const output = gatedByExit(tool.output, tool.exited);
        output.on('error', (err) => scan.destroy(err));
        const saved = await i.save(output.pipe(scan), Number(bytes) || 0);
        return { saved, facts: fullBackupFacts(scan.result(), i.segmentSize) };
      } finally {
        tool.kill(); // after a failure downstream nobody reads its stdout: it would block there for ever
      }
    });
  } finally {
    await removePasswordFile(passFile);
  }
}
