// pg_rewind: a former primary's data directory made a copy of its new
// primary's as of their fork, so that it can follow it as a standby. What it
// wrote after the fork (a switchover's own shutdown checkpoint at least, a
// failed primary's unreplicated commits at most) is undone: every page it
// changed since their last common checkpoint is copied back from the source.
//
// It runs as the server's OS account on the stopped data directory, and
// connects to the source as the replication account (which has the grants
// of replication-source.ts), with the password from the server's pass file.
// pg_rewind reads how far the target's WAL goes from its control file, so a
// former primary must have finished its crash recovery first: killed, it is
// recovered in single-user mode (by pg_rewind itself, which reads this
// instance's postgresql.conf through --config-file, PostgreSQL 15 on); a
// crash recovery that was itself interrupted by a stop leaves the control
// file saying "shut down in recovery" with a recovery point short of the WAL
// it holds, which pg_rewind would take for the end ("no rewind required"),
// so that one is finished here, the same way, before. Orphaned backends of a
// killed server would keep it from starting: they go first.
//
// A source that cannot be reached is UNAVAILABLE (try again); anything else
// is DATA_LOSS: the data directory cannot follow the source (no common
// history, or pg_rewind stopped half-way and left it inconsistent) and must
// be made again from a backup.
import type { ManagerContext } from '../sdk/contract.js';
import { StewardError, unavailable } from '../sdk/errors.js';
import type { OsUser } from '../sdk/os-user.js';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { internal } from '../sdk/errors.js';
import { bin, type Installation } from './installation.js';
import type { PgPaths } from './paths.js';
import { killOrphans } from './process-group.js';
import { clusterState } from './recovery.js';
import { sourceConninfo } from './replication-config.js';
import { toolEnv } from './secure.js';
import { MAINTENANCE_DB } from './paths.js';

export interface RewindInput {
  ctx: Pick<ManagerContext, 'runner' | 'dataDir' | 'log'>;
  inst: Installation;
  paths: PgPaths;
  serverUser: OsUser | undefined;
  source: { host: string; port: number };
  /** The replication account (its password is in the pass file). */
  user: string;
  signal: AbortSignal;
}

const UNREACHABLE = /could not connect|connection to server .* failed|Connection refused|timeout expired|could not translate host name/i;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * A former primary (no standby.signal) whose crash recovery was cut short by
 * a stop replays the rest of its WAL in single-user mode and shuts down
 * cleanly. A real standby's control file is right as it is.
 */
async function finishCrashRecovery(i: RewindInput): Promise<void> {
  if (await exists(join(i.ctx.dataDir, 'standby.signal'))) return;
  if ((await clusterState(i.ctx, i.inst, i.ctx.dataDir, i.signal)) !== 'shut down in recovery') return;
  const { stderr } = await i.ctx.runner(bin(i.inst, 'postgres'), ['--single', '-c', `config_file=${i.paths.configFile}`, MAINTENANCE_DB], {
    input: '',
    uid: i.serverUser?.uid,
    gid: i.serverUser?.gid,
    cwd: '/',
    env: toolEnv(),
    signal: i.signal,
    timeoutMs: 30 * 60_000,
  });
  // Single-user mode reports a failure on stderr and may still exit 0.
  const errors = stderr.split('\n').filter((l) => /\b(FATAL|PANIC):/.test(l));
  if (errors.length) throw internal(`finishing the crash recovery of this former primary failed: ${errors.join('; ')}`);
}

/** Rewinds the stopped data directory onto `source`; says whether anything had to be undone. */
export async function rewind(i: RewindInput): Promise<{ rewound: boolean; output: string }> {
  await killOrphans(i.ctx.dataDir);
  const where = `${i.source.host}:${i.source.port}`;
  const args = [
    `--target-pgdata=${i.ctx.dataDir}`,
    `--source-server=${sourceConninfo({ ...i.source, name: 'steward-rewind' }, i.user, i.paths.replicationPassFile, MAINTENANCE_DB)}`,
    ...(i.inst.major >= 15 ? [`--config-file=${i.paths.configFile}`] : []),
  ];
  try {
    await finishCrashRecovery(i);
    const { stdout, stderr } = await i.ctx.runner(bin(i.inst, 'pg_rewind'), args, {
      uid: i.serverUser?.uid,
      gid: i.serverUser?.gid,
      cwd: '/',
      env: toolEnv(),
      signal: i.signal,
      timeoutMs: 30 * 60_000,
    });
    const output = `${stdout}${stderr}`.trim();
    return { rewound: !/no rewind required/.test(output), output };
  } catch (err) {
    if (i.signal.aborted || !(err instanceof StewardError) || err.code !== 'INTERNAL') throw err;
    if (UNREACHABLE.test(err.message)) throw unavailable(`pg_rewind could not reach the new primary ${where}: ${err.message}`);
    throw new StewardError(
      'DATA_LOSS',
      `this former primary cannot be rewound onto its new primary ${where} (${err.message}): it must be rebuilt from a backup of the new primary`,
    );
  }
}
