import type { Command } from 'commander';
import type { Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState } from '../../proto/gen/steward/v1/common.js';
import type { NewUser } from '../client.js';
import { CliError, UsageError } from '../errors.js';
import { address, agentLabel, instanceJson, instanceRecord, operationJson, statusName, taskName } from '../output.js';
import { readPassword } from '../password.js';
import { Progress, pollUntil, waitForOperation } from '../wait.js';
import { action, collect, finishOperation, NO_WAIT_HELP, operationFailure, positiveInt, type Ctx, type NoWaitOption } from './common.js';
import { failoverMode, followSet, replicaVerbs, roleName } from './replica-set.js';
import type { FailoverMode } from '../../proto/gen/steward/v1/replication.js';

/**
 * `NAME:PASSWORD[@HOST]`, or `NAME[@HOST]` when the password comes from stdin.
 * The host is what follows the LAST "@", so a password containing "@" needs an
 * explicit host (`alice:p@ss@%`).
 */
export function parseUserSpec(spec: string): { name: string; host: string; password?: string } {
  const colon = spec.indexOf(':');
  const [name, rest] = colon < 0 ? ['', spec] : [spec.slice(0, colon), spec.slice(colon + 1)];
  const at = rest.lastIndexOf('@');
  const [before, host] = at < 0 ? [rest, ''] : [rest.slice(0, at), rest.slice(at + 1)];
  if (colon < 0) {
    if (!before) throw new UsageError(`--user "${spec}": expected NAME:PASSWORD[@HOST]`);
    return { name: before, host };
  }
  if (!name) throw new UsageError(`--user "${spec.replace(/:.*/, ':***')}": the user name is empty`);
  if (!before) throw new UsageError(`--user ${name}: the password is empty`);
  return { name, host, password: before };
}

interface CreateOpts extends NoWaitOption {
  datastore?: string;
  replicaOf?: string;
  replicaCount?: number;
  synchronous?: boolean;
  failover?: FailoverMode;
  maxLag?: number;
  datastoreVersion?: string;
  memoryMb?: number;
  database?: string[];
  user?: string[];
  passwordStdin?: boolean;
  backup?: string;
  configuration?: string;
  volumeSizeMb?: number;
}

async function usersFor(opts: CreateOpts): Promise<NewUser[]> {
  const databases = opts.database ?? [];
  const specs = (opts.user ?? []).map(parseUserSpec);
  const missing = specs.filter((s) => s.password === undefined);
  if (opts.passwordStdin) {
    if (missing.length !== 1) {
      throw new UsageError('--password-stdin supplies the password of exactly one --user given without ":PASSWORD"');
    }
    missing[0]!.password = await readPassword({ passwordStdin: true }, `user ${missing[0]!.name}`);
  } else if (missing.length) {
    throw new UsageError(`--user ${missing[0]!.name}: no password (use NAME:PASSWORD, or NAME with --password-stdin)`);
  }
  return specs.map((s) => ({ name: s.name, host: s.host, password: s.password!, access: databases.map((database) => ({ database })) }));
}

export function instanceCommand(parent: Command): Command {
  const cmd = parent
    .command('instance')
    .summary('Create, list, show, restart and delete instances')
    .description('Create, inspect, restart and delete database instances.')
    .alias('instances');

  cmd
    .command('create')
    .summary('Create an instance (with databases and users) and wait until it is ready')
    .description(
      'Create an instance: the controller provisions a machine, its agent installs and secures the datastore, ' +
        'then creates the requested databases and users. Waits until the instance is ready unless --no-wait.',
    )
    .argument('<NAME>', 'a display name for the instance (need not be unique)')
    .option('--datastore <TYPE>', 'datastore type, e.g. mysql (required unless --replica-of)')
    .option('--datastore-version <VERSION>', 'datastore version (default: what the provisioner has)')
    .option('--memory-mb <N>', 'memory for the datastore in MB; buffer sizes follow it (server default 512)', positiveInt)
    .option('--database <NAME>', 'create this database (repeat for several)', collect)
    .option(
      '--user <NAME:PASSWORD[@HOST]>',
      'create this user with access to every --database (repeat for several); HOST is a MySQL host pattern, default %',
      collect,
    )
    .option('--password-stdin', 'read the password of the one --user given as NAME[@HOST] from stdin (prompted at a terminal)')
    .option(
      '--backup <BACKUP_ID>',
      'fill the new instance from this completed backup (and the chain it builds on); same datastore and version series, not with --database/--user',
    )
    .option('--replica-of <ID>', 'make replicas of this instance (built from a fresh backup of it, then following it)')
    .option('--replica-count <N>', 'with --replica-of: how many replicas (default 1; named NAME-1, NAME-2, ...)', positiveInt)
    .option('--synchronous', 'with the first --replica-of: a commit waits for a replica (no acknowledged write lost on failover)')
    .option('--failover <auto|manual>', 'with the first --replica-of: who fails over a dead primary (default auto: the controller)', failoverMode)
    .option('--max-lag <N>', 'with the first --replica-of: the most a replica may lag to be promoted without --force', positiveInt)
    .option('--volume-size-mb <N>', 'put the data on a volume of its own of this size (at least 300; provisioners that manage volumes)', positiveInt)
    .option('--configuration <GROUP_ID>', 'run with this configuration group (default with --backup: the group the backup was taken with)')
    .option('--no-wait', NO_WAIT_HELP)
    .addHelpText(
      'after',
      `
The host of --user is what follows the last "@", so a password that contains "@"
needs an explicit host: --user 'alice:p@ss@%'.

Examples:
  stewardctl instance create shop --datastore mysql --memory-mb 1024 \\
      --database shop --user app:S3cret-pw
  stewardctl instance create shop-copy --datastore mysql --backup $BACKUP_ID
  stewardctl instance create shop-ro --replica-of $PRIMARY_ID --replica-count 2 --synchronous
  pass show shop/app | stewardctl instance create shop --datastore mysql \\
      --database shop --user app@10.0.0.% --password-stdin
  ID=$(stewardctl instance create ci --datastore mysql --json --no-wait | jq -r .instance.id)`,
    )
    .action(
      action<CreateOpts>(async (ctx, [name], opts) => {
        if (opts.replicaOf) return createReplicas(ctx, name!, opts);
        if (!opts.datastore) throw new UsageError('--datastore is required (unless --replica-of)');
        if (opts.replicaCount || opts.synchronous || opts.failover || opts.maxLag) {
          throw new UsageError('--replica-count, --synchronous, --failover and --max-lag go with --replica-of');
        }
        const users = await usersFor(opts);
        const databases = (opts.database ?? []).map((db) => ({ name: db }));
        const res = await ctx.api.createInstance({
          name: name!,
          datastore: opts.datastore,
          datastoreVersion: opts.datastoreVersion,
          memoryMb: opts.memoryMb,
          databases,
          users,
          backupId: opts.backup,
          configurationId: opts.configuration,
          volumeSizeMb: opts.volumeSizeMb,
        });
        const inst = res.instance!;
        const op = res.operation!;
        if (opts.wait === false) {
          if (ctx.out.json) ctx.out.data({ instance: instanceJson(inst), operation: operationJson(op) });
          else {
            ctx.out.line(op.id);
            ctx.out.note(`instance ${inst.id} is being created; follow it with: stewardctl operation wait ${op.id}`);
          }
          return;
        }
        // A person watching a spinner wants the id now; a log gets it with the result or the error line.
        if (process.stderr.isTTY) ctx.out.note(`instance ${inst.id} (${inst.name}) created; preparing ${inst.datastore}`);
        const final = await waitForOperation(ctx.api, op, ctx.wait);
        // The operation alone does not say where to connect: show the instance as it is now.
        const now = await ctx.api.getInstance(inst.id).catch(() => inst);
        if (ctx.out.json) ctx.out.data({ instance: instanceJson(now), operation: operationJson(final) });
        if (final.state !== OperationState.SUCCEEDED) {
          const err = operationFailure(final);
          throw new CliError(err.code, `instance ${inst.id}: ${err.message}`);
        }
        if (!ctx.out.json) instanceRecord(ctx.out, now);
      }),
    );

  cmd
    .command('list')
    .summary('List instances with status and task')
    .alias('ls')
    .description('List instances with their datastore status (as the agent last reported it) and task.')
    .addHelpText(
      'after',
      `
STATUS is the datastore's own health from the agent's probe (HEALTHY, RUNNING,
SHUTDOWN, ...); TASK is what the controller is doing to the instance (NONE,
BUILDING, REBOOTING, DELETING, or *_ERROR with the reason in "instance show").`,
    )
    .action(
      action(async (ctx) => {
        const instances = await ctx.api.listInstances();
        if (ctx.out.json) return ctx.out.data(instances.map(instanceJson));
        ctx.out.table(
          ['id', 'name', 'datastore', 'role', 'status', 'task', 'address', 'agent'],
          instances.map((i) => [i.id, i.name, i.datastore, i.replicaSetId ? roleName(i.role) : '-', statusName(i), taskName(i), address(i), agentLabel(i)]),
        );
      }),
    );

  cmd
    .command('show')
    .summary('Show one instance in detail')
    .alias('get')
    .description('Show one instance: status, task (with the failure reason of a *_ERROR task), address, agent, capabilities.')
    .argument('<ID>', 'instance id')
    .action(
      action(async (ctx, [id]) => {
        const inst = await ctx.api.getInstance(id!);
        if (ctx.out.json) return ctx.out.data(instanceJson(inst));
        instanceRecord(ctx.out, inst);
      }),
    );

  cmd
    .command('enrollment-token')
    .summary("A new one-time token for an instance's agent to enroll with")
    .description(
      "A new one-time enrollment token for the instance's agent (an agent on its own VM, installed from the steward-agent " +
        'package, or one whose certificate was revoked). Printed on stdout, shown once; it expires after the ' +
        "controller's enrollmentTokenTtlMs (15 minutes by default). Put it in the file the agent's enrollment.tokenFile names.",
    )
    .argument('<ID>', 'instance id')
    .action(
      action(async (ctx, [id]) => {
        const res = await ctx.api.newEnrollmentToken(id!);
        if (ctx.out.json) return ctx.out.data(res);
        ctx.out.line(res.enrollmentToken);
        ctx.out.note(`expires at ${res.expiresAt}`);
      }),
    );

  cmd
    .command('rename')
    .summary('Give an instance a new display name')
    .description(
      'Give an instance a new display name (1-255 characters, no control characters). Only the record changes: the datastore, its address and its id stay.',
    )
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'the new name')
    .action(
      action(async (ctx, [id, name]) => {
        const inst = await ctx.api.renameInstance(id!, name!);
        if (ctx.out.json) return ctx.out.data(instanceJson(inst));
        instanceRecord(ctx.out, inst);
      }),
    );

  cmd
    .command('delete')
    .summary('Delete an instance and all its data')
    .alias('rm')
    .description(
      'Delete an instance: stops the datastore and the agent and removes every file of the instance, data included. ' +
        'The server does this in the background; --wait follows it until the instance is gone.',
    )
    .argument('<ID>', 'instance id')
    .option('--wait', 'wait until the instance no longer exists')
    .option('--detach-replicas', 'a primary with replicas: detach them first (each becomes a standalone instance)')
    .action(
      action<{ wait?: boolean; detachReplicas?: boolean }>(async (ctx, [id], opts) => {
        const { instance } = await ctx.api.deleteInstance(id!, !!opts.detachReplicas);
        const inst = instance!;
        if (!opts.wait) {
          if (ctx.out.json) return ctx.out.data(instanceJson(inst));
          ctx.out.line(`instance ${inst.id} (${inst.name}) is being deleted`);
          return;
        }
        const progress = new Progress();
        await pollUntil<true>(
          progress,
          `deletion of instance ${inst.id} continues on the server: check with stewardctl instance show ${inst.id}`,
          async () => {
            let now: Instance;
            try {
              now = await ctx.api.getInstance(inst.id);
            } catch (err) {
              if (err instanceof CliError && err.code === 'NOT_FOUND') return true;
              throw err;
            }
            if (taskName(now) === 'DELETING_ERROR') {
              progress.stop();
              throw new CliError('DELETING_ERROR', `instance ${inst.id} could not be deleted: ${now.taskMessage || 'no reason given'}`);
            }
            progress.update(`deleting instance ${inst.name} (${taskName(now)})`);
            return undefined;
          },
          { ...ctx.wait, what: `instance ${inst.id} to be deleted` },
        ).finally(() => progress.stop());
        if (ctx.out.json) ctx.out.data({ ...instanceJson(inst), deleted: true });
        else ctx.out.line(`instance ${inst.id} (${inst.name}) deleted`);
      }),
    );

  cmd
    .command('restart')
    .summary('Restart the datastore of an instance')
    .description('Restart the datastore of an instance (not the machine). Waits for it unless --no-wait.')
    .argument('<ID>', 'instance id')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [id], opts) => {
        const op = await ctx.api.restartInstance(id!);
        await finishOperation(ctx, op, opts, () => `instance ${id} restarted`);
      }),
    );

  cmd
    .command('resize')
    .summary('Give an instance a new memory size (one restart) or a bigger data volume (online)')
    .description(
      "Give an instance a new memory size: the datastore's memory-derived settings (buffer pool, shared_buffers, maxmemory, " +
        'heap) are rendered for it and the datastore restarts once. A primary with replicas is refused: resize the replicas, ' +
        'switch over, then resize it as a replica. Waits for it unless --no-wait.',
    )
    .argument('<ID>', 'instance id')
    .option('--memory-mb <N>', 'the new memory size in MB', positiveInt)
    .option('--volume-size-mb <N>', 'grow the data volume to this size in MB, online (never shrunk)', positiveInt)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption & { memoryMb?: number; volumeSizeMb?: number }>(async (ctx, [id], opts) => {
        if (!opts.memoryMb === !opts.volumeSizeMb) throw new UsageError('give exactly one of --memory-mb and --volume-size-mb');
        if (opts.volumeSizeMb) {
          const op = await ctx.api.resizeVolume(id!, opts.volumeSizeMb);
          await finishOperation(ctx, op, opts, () => `the data volume of instance ${id} grown to ${opts.volumeSizeMb} MB`);
          return;
        }
        const op = await ctx.api.resizeInstance(id!, opts.memoryMb!);
        await finishOperation(ctx, op, opts, () => `instance ${id} resized to ${opts.memoryMb} MB`);
      }),
    );

  replicaVerbs(cmd);
  return cmd;
}

/** `instance create --replica-of`: the replicas exist at once; they are ready when the replica set's workflow ends. */
async function createReplicas(ctx: Ctx, name: string, opts: CreateOpts): Promise<void> {
  if (opts.backup || opts.database?.length || opts.user?.length) {
    throw new UsageError("a replica has its source's data, databases and users: --backup, --database and --user do not go with --replica-of");
  }
  const res = await ctx.api.createInstance({
    name,
    datastore: opts.datastore ?? '',
    datastoreVersion: opts.datastoreVersion,
    memoryMb: opts.memoryMb,
    databases: [],
    users: [],
    replicaOf: opts.replicaOf,
    replicaCount: opts.replicaCount,
    synchronous: opts.synchronous,
    failover: opts.failover,
    maxLag: opts.maxLag,
  });
  const setId = res.instance?.replicaSetId ?? '';
  if (opts.wait === false) {
    if (ctx.out.json) return ctx.out.data({ replicas: res.replicas.map(instanceJson), replicaSetId: setId });
    for (const r of res.replicas) ctx.out.line(r.id);
    ctx.out.note(`replicas are being built; follow them with: stewardctl replica-set show ${setId}`);
    return;
  }
  if (process.stderr.isTTY) ctx.out.note(`replicas ${res.replicas.map((r) => r.id).join(', ')} created; seeding them from a backup of ${opts.replicaOf}`);
  await followSet(ctx, setId);
  const now = await Promise.all(res.replicas.map((r) => ctx.api.getInstance(r.id)));
  if (ctx.out.json) return ctx.out.data({ replicas: now.map(instanceJson), replicaSetId: setId });
  for (const r of now) instanceRecord(ctx.out, r);
}
