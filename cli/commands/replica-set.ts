// stewardctl replica-set, and the replication verbs of `instance` (promote,
// detach). A replica set change is a workflow: waiting follows the set's task
// until it is NONE again (or an *_ERROR with the reason).
import { InvalidArgumentError, type Command } from 'commander';
import {
  FailoverMode,
  failoverModeToJSON,
  ReplicaSetTask,
  replicaSetTaskToJSON,
  replicationRoleToJSON,
  ReplicationRole,
  type ReplicaInfo,
  type ReplicaSet,
} from '../../proto/gen/steward/v1/replication.js';
import { CliError, UsageError } from '../errors.js';
import { short } from '../output.js';
import { Progress } from '../wait.js';
import { action, NO_WAIT_HELP, positiveInt, type Ctx, type NoWaitOption } from './common.js';

const setTask = (s: ReplicaSet) => short(replicaSetTaskToJSON(s.task), 'REPLICA_SET_TASK_');
export const roleName = (role: ReplicaInfo['role']) => short(replicationRoleToJSON(role), 'REPLICATION_ROLE_').toLowerCase();
const failoverName = (m: FailoverMode) => (m === FailoverMode.MANUAL ? 'manual' : 'auto');

/** `--failover auto|manual` */
export function failoverMode(value: string): FailoverMode {
  if (value === 'auto') return FailoverMode.AUTOMATIC;
  if (value === 'manual') return FailoverMode.MANUAL;
  throw new InvalidArgumentError('must be "auto" or "manual"');
}

/** `--synchronous on|off` */
function onOff(value: string): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError('must be "on" or "off"');
}

/** "12 transactions, 0.4 s" for a replica; "" for a primary. */
export function lagText(r: ReplicaInfo): string {
  if (r.role !== ReplicationRole.REPLICA) return '';
  const seconds = r.lagSeconds < 0 ? 'unknown s' : `${r.lagSeconds} s`;
  return `${r.lag} ${r.lagUnit}, ${seconds}`;
}

export const replicaSetJson = (s: ReplicaSet) => ({
  ...s,
  task: replicaSetTaskToJSON(s.task),
  failover: failoverModeToJSON(s.failover),
  members: s.members.map((m) => ({ ...m, role: replicationRoleToJSON(m.role) })),
});

function printSet(ctx: Ctx, s: ReplicaSet): void {
  if (ctx.out.json) return ctx.out.data(replicaSetJson(s));
  ctx.out.record([
    ['id', s.id],
    ['datastore', s.datastore],
    ['primary', s.primaryId],
    ['term', String(s.term)],
    ['synchronous', s.synchronous ? 'on' : 'off'],
    ['failover', failoverName(s.failover)],
    ['max lag', String(s.maxLag)],
    ['task', s.taskMessage ? `${setTask(s)}: ${s.taskMessage}` : setTask(s)],
    ['step', s.workflowStep],
    ['status', s.statusMessage],
  ]);
  ctx.out.table(
    ['instance', 'role', 'source', 'address', 'position', 'lag', 'streaming', 'note'],
    s.members.map((m) => [
      m.instanceId,
      roleName(m.role),
      m.replicaOf,
      `${m.host}:${m.port}`,
      m.position,
      lagText(m),
      m.role === ReplicationRole.REPLICA ? (m.connected ? 'yes' : 'no') : '',
      [m.fenced ? 'fenced' : '', m.rejoinPending ? 'rejoin pending' : '', m.error].filter(Boolean).join('; '),
    ]),
  );
}

/** Follows the set's workflow until it settles, showing each step once. */
export async function followSet(ctx: Ctx, id: string): Promise<ReplicaSet> {
  const progress = new Progress();
  const deadline = ctx.wait.timeoutMs ? Date.now() + ctx.wait.timeoutMs : Number.POSITIVE_INFINITY;
  try {
    for (;;) {
      const s = await ctx.api.getReplicaSet(id);
      if (s.task === ReplicaSetTask.NONE) return s;
      if (setTask(s).endsWith('_ERROR')) throw new CliError(setTask(s), `replica set ${id}: ${s.taskMessage}`);
      progress.update(`${setTask(s).toLowerCase().replaceAll('_', ' ')}${s.workflowStep ? `: ${s.workflowStep}` : ''}`);
      if (Date.now() > deadline) {
        throw new CliError('DEADLINE_EXCEEDED', `replica set ${id} is still ${setTask(s)}; it goes on (stewardctl replica-set show ${id})`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    progress.stop();
  }
}

async function finish(ctx: Ctx, s: ReplicaSet, opts: NoWaitOption): Promise<void> {
  printSet(ctx, opts.wait === false ? s : await followSet(ctx, s.id));
}

/** `instance promote` and `instance detach`. */
export function replicaVerbs(instance: Command): void {
  instance
    .command('promote')
    .summary("Switch over: make this replica its set's primary")
    .description(
      "Switchover (Trove's promote_to_replica_source): the primary is fenced (read-only, sessions ended), the replica " +
        'catches up, is promoted without a restart, the other replicas follow it and the old primary becomes its replica. ' +
        "Refused before anything changes when the replica lags more than the set's max lag; rolled back when it does not " +
        'catch up in time. Waits for the end unless --no-wait.',
    )
    .argument('<ID>', "a replica's instance id")
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [id], opts) => {
        await finish(ctx, await ctx.api.promoteReplica(id!), opts);
      }),
    );

  instance
    .command('detach')
    .summary('Take a replica out of its set: it stops following and takes writes')
    .description(
      'Detach a replica: it stops following its source and becomes a standalone, writable instance with the data it had. ' +
        'Its source stops serving it. Refused for a replica that other replicas follow.',
    )
    .argument('<ID>', "a replica's instance id")
    .action(
      action(async (ctx, [id]) => {
        printSet(ctx, await ctx.api.detachReplica(id!));
      }),
    );
}

export function replicaSetCommand(parent: Command): Command {
  const cmd = parent
    .command('replica-set')
    .alias('replica-sets')
    .summary('Show and change replica sets (a primary and its replicas)')
    .description('A replica set is made by `instance create --replica-of`; see docs/replication.md.');

  cmd
    .command('show')
    .alias('get')
    .summary("Show a replica set: its primary, term, options and each member's position and lag")
    .description(
      'Show a replica set: its primary, term (raised at every promotion), options, the workflow running on it, why ' +
        'automatic failover would be refused now, and each member as its agent last reported it.',
    )
    .argument('<ID>', 'replica set id (`instance show` names it)')
    .action(
      action(async (ctx, [id]) => {
        printSet(ctx, await ctx.api.getReplicaSet(id!));
      }),
    );

  cmd
    .command('update')
    .summary('Change synchronous replication, automatic failover or the lag bound')
    .description(
      "Change a replica set's options; only the options given change. The members take the new settings at once. " +
        'See docs/replication.md for what each costs.',
    )
    .argument('<ID>', 'replica set id')
    .option('--synchronous <on|off>', 'a commit waits for one replica (MariaDB semi-sync AFTER_SYNC, PostgreSQL ANY 1)', onOff)
    .option('--failover <auto|manual>', 'auto: the controller fails over a dead primary; manual: only `replica-set failover`', failoverMode)
    .option('--max-lag <N>', 'the most a replica may lag to be promoted without --force (transactions or bytes)', positiveInt)
    .action(
      action<{ synchronous?: boolean; failover?: FailoverMode; maxLag?: number }>(async (ctx, [id], opts) => {
        const updateMask = [
          opts.synchronous !== undefined ? 'synchronous' : '',
          opts.failover !== undefined ? 'failover' : '',
          opts.maxLag !== undefined ? 'max_lag' : '',
        ].filter(Boolean);
        if (!updateMask.length) throw new UsageError('give --synchronous, --failover or --max-lag');
        printSet(ctx, await ctx.api.updateReplicaSet({ id: id!, updateMask, synchronous: opts.synchronous, failover: opts.failover, maxLag: opts.maxLag }));
      }),
    );

  cmd
    .command('failover')
    .summary("Fail over now to the most advanced replica, whatever the primary's state")
    .description(
      "Failover (Trove's eject_replica_source): the term goes up, the primary is fenced if it answers, the most advanced " +
        'replica is promoted and the others follow it; the old primary rejoins as a replica when it is back. Refused when ' +
        'the best replica lags more than max lag (or, with synchronous replication, when a replica is silent) unless --force.',
    )
    .argument('<ID>', 'replica set id')
    .option('--force', 'promote even if acknowledged writes may be lost')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption & { force?: boolean }>(async (ctx, [id], opts) => {
        await finish(ctx, await ctx.api.failover(id!, !!opts.force), opts);
      }),
    );

  return cmd;
}
