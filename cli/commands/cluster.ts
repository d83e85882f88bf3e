// stewardctl cluster: rings of instances sequenced by the controller. A cluster
// change is a workflow, not a single operation: waiting follows the cluster's
// task until it is NONE again (or an *_ERROR with the reason).
import type { Command } from 'commander';
import { clusterTaskToJSON, ClusterTask, memberStateToJSON, type Cluster, type MemberState, type MemberSpec } from '../../proto/gen/steward/v1/clusters.js';
import { CliError, UsageError } from '../errors.js';
import { short } from '../output.js';
import { action, collect, type Ctx, type NoWaitOption, NO_WAIT_HELP } from './common.js';

const taskName = (c: Cluster) => short(clusterTaskToJSON(c.task), 'CLUSTER_TASK_');
/** "MEMBER_STATE_ACTIVE" -> "active", as members have always been shown. */
const memberState = (s: MemberState) => short(memberStateToJSON(s), 'MEMBER_STATE_').toLowerCase();
const clusterJson = (c: Cluster) => ({ ...c, task: clusterTaskToJSON(c.task), members: c.members.map((m) => ({ ...m, state: memberState(m.state) })) });

/** "dc1:rack1[:memoryMb]" -> a member spec. */
function memberSpec(value: string, previous: Partial<MemberSpec>[] = []): Partial<MemberSpec>[] {
  const [dataCenter, rack, memory] = value.split(':');
  if (!dataCenter || !rack || (memory !== undefined && !/^\d+$/.test(memory))) {
    throw new UsageError(`--member "${value}": expected DC:RACK or DC:RACK:MEMORY_MB`);
  }
  return [...previous, { dataCenter, rack, memoryMb: memory ? Number(memory) : 0 }];
}

function membersFrom(opts: { member?: Partial<MemberSpec>[]; size?: string }): Partial<MemberSpec>[] {
  if (opts.member?.length) return opts.member;
  const n = Number(opts.size ?? 0);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError('give --size N or one --member DC:RACK per member');
  return Array.from({ length: n }, () => ({}));
}

function printCluster(ctx: Ctx, c: Cluster): void {
  if (ctx.out.json) return ctx.out.data(clusterJson(c));
  ctx.out.record([
    ['id', c.id],
    ['name', c.name],
    ['datastore', c.datastore],
    ['task', taskName(c)],
    ['reason', c.taskMessage],
    ['step', c.workflowStep],
    ['created', c.createdAt],
  ]);
  ctx.out.table(
    ['instance', 'name', 'dc', 'rack', 'seed', 'state', 'address'],
    c.members.map((m) => [m.instanceId, m.name, m.dataCenter, m.rack, m.seed, memberState(m.state), `${m.host}:${m.port}`]),
  );
}

/** Follows the cluster's workflow until it settles, showing each step once. */
async function follow(ctx: Ctx, id: string): Promise<Cluster> {
  let last = '';
  const deadline = ctx.wait.timeoutMs ? Date.now() + ctx.wait.timeoutMs : Infinity;
  for (;;) {
    const c = await ctx.api.getCluster(id);
    if (c.workflowStep && c.workflowStep !== last) {
      last = c.workflowStep;
      ctx.out.note(`${taskName(c).toLowerCase()}: ${last}`);
    }
    if (c.task === ClusterTask.NONE) return c;
    if (taskName(c).endsWith('_ERROR')) throw new CliError(taskName(c), `cluster ${id}: ${c.taskMessage}`);
    if (Date.now() > deadline) throw new CliError('DEADLINE_EXCEEDED', `cluster ${id} is still ${taskName(c)}; it goes on (stewardctl cluster show ${id})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function finish(ctx: Ctx, c: Cluster, opts: NoWaitOption): Promise<void> {
  if (opts.wait === false) return printCluster(ctx, c);
  printCluster(ctx, await follow(ctx, c.id));
}

export function clusterCommand(parent: Command): Command {
  const cmd = parent.command('cluster').alias('clusters').summary('Create, grow, shrink and delete clusters (Cassandra rings)');
  const memberHelp = 'a member as DC:RACK or DC:RACK:MEMORY_MB (repeat for each; seeds are the first member of each DC:RACK)';

  cmd
    .command('create')
    .summary('Create a cluster')
    .argument('<NAME>', 'cluster name (letters, digits, "_", "-")')
    .requiredOption('--datastore <type>', 'datastore with cluster support (cassandra)')
    .option('--size <n>', 'that many members in dc1:rack1')
    .option('--member <spec>', memberHelp, memberSpec)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<{ datastore: string; size?: string; member?: Partial<MemberSpec>[] } & NoWaitOption>(async (ctx, [name], opts) => {
        await finish(ctx, await ctx.api.createCluster(name!, opts.datastore, membersFrom(opts)), opts);
      }),
    );

  cmd
    .command('list')
    .alias('ls')
    .summary('List clusters')
    .action(
      action(async (ctx) => {
        const all = await ctx.api.listClusters();
        if (ctx.out.json) return ctx.out.data(all.map(clusterJson));
        ctx.out.table(
          ['id', 'name', 'datastore', 'task', 'members'],
          all.map((c) => [c.id, c.name, c.datastore, taskName(c), c.members.length]),
        );
      }),
    );

  cmd
    .command('show')
    .summary('Show a cluster, its members and the ring as a member sees it')
    .argument('<ID>', 'cluster id')
    .option('--no-ring', 'skip asking a member for the ring view')
    .action(
      action<{ ring?: boolean }>(async (ctx, [id], opts) => {
        const c = await ctx.api.getCluster(id!);
        printCluster(ctx, c);
        if (opts.ring === false || ctx.out.json) return;
        try {
          const ring = await ctx.api.clusterRing(id!);
          ctx.out.line('');
          ctx.out.table(
            ['address', 'status', 'state', 'dc', 'rack', 'tokens', 'load', 'owns', 'host id'],
            ring.members.map((m) => [m.address, m.status, m.state, m.dataCenter, m.rack, m.tokens, m.load, m.owns, m.hostId]),
          );
        } catch (err) {
          ctx.out.note(`stewardctl: ring view unavailable: ${(err as Error).message}`);
        }
      }),
    );

  cmd
    .command('grow')
    .summary('Add members, one at a time (task GROWING until done)')
    .argument('<ID>', 'cluster id')
    .option('--size <n>', 'that many new members in dc1:rack1')
    .option('--member <spec>', memberHelp, memberSpec)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<{ size?: string; member?: Partial<MemberSpec>[] } & NoWaitOption>(async (ctx, [id], opts) => {
        await finish(ctx, await ctx.api.growCluster(id!, membersFrom(opts)), opts);
      }),
    );

  cmd
    .command('shrink')
    .summary('Remove members by decommission, one at a time (task SHRINKING until done)')
    .argument('<ID>', 'cluster id')
    .requiredOption('--instance <id>', 'member instance to remove (repeat for several)', collect)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<{ instance: string[] } & NoWaitOption>(async (ctx, [id], opts) => {
        await finish(ctx, await ctx.api.shrinkCluster(id!, opts.instance), opts);
      }),
    );

  cmd
    .command('delete')
    .alias('rm')
    .summary('Delete a cluster and every member instance')
    .argument('<ID>', 'cluster id')
    .action(
      action(async (ctx, [id]) => {
        const c = await ctx.api.deleteCluster(id!);
        if (ctx.out.json) ctx.out.data(clusterJson(c));
        else ctx.out.line(`cluster ${id} is being deleted`);
      }),
    );

  return cmd;
}
