// stewardctl configuration: configuration groups (named, checked parameter
// values for one datastore), attached to instances; and the rules with the
// defaults Steward renders, so a group can be written without guessing.
import { type Command, InvalidArgumentError } from 'commander';
import type { Operation } from '../../proto/gen/steward/v1/common.js';
import type { ConfigurationGroup } from '../../proto/gen/steward/v1/configurations.js';
import { resultOf } from '../../managers/sdk/operations/payload.js';
import { UsageError } from '../errors.js';
import { action, collect, finishOperation, NO_WAIT_HELP, positiveInt, type Ctx, type NoWaitOption } from './common.js';

/** NAME=VALUE, split at the first "=" (values never contain one, but names are checked by the controller). */
export function parameterPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('must be NAME=VALUE, e.g. max_connections=200');
  const name = value.slice(0, at);
  if (Object.hasOwn(previous, name)) throw new InvalidArgumentError(`${name} is given twice`);
  return { ...previous, [name]: value.slice(at + 1) };
}

function printGroup(ctx: Ctx, g: ConfigurationGroup): void {
  if (ctx.out.json) return ctx.out.data({ ...g });
  ctx.out.record([
    ['id', g.id],
    ['name', g.name],
    ['description', g.description],
    ['datastore', g.datastore],
    ['instances', g.instanceIds.join(', ')],
    ['created', g.createdAt],
    ['updated', g.updatedAt],
  ]);
  const names = Object.keys(g.values).sort();
  if (names.length) {
    ctx.out.line('');
    ctx.out.table(
      ['PARAMETER', 'VALUE'],
      names.map((n) => [n, g.values[n]!]),
    );
  }
}

interface ValuesOpts {
  set?: Record<string, string>;
}

export function configurationCommand(parent: Command): Command {
  const cmd = parent
    .command('configuration')
    .alias('configurations')
    .summary('Configuration groups: checked parameter values attached to instances')
    .description(
      'A configuration group is a named set of parameter values for one datastore. Values are checked against ' +
        "the datastore's rules before anything is stored (see `configuration defaults`). Attached to an instance, " +
        'dynamic values take effect at once; the others at its next restart (the instance shows RESTART_REQUIRED).',
    );

  cmd
    .command('create')
    .summary('Create a group')
    .description('Create a configuration group for one datastore; every value is checked against its rules first.')
    .argument('<NAME>', 'display name')
    .requiredOption('--datastore <TYPE>', 'datastore the group is for, e.g. mysql')
    .option('--set <NAME=VALUE>', 'a parameter value (repeat for several)', parameterPair)
    .option('--description <TEXT>', 'free text')
    .addHelpText('after', '\nExample:\n  stewardctl configuration create busy --datastore mysql --set max_connections=800 --set long_query_time=2')
    .action(
      action<ValuesOpts & { datastore: string; description?: string }>(async (ctx, [name], opts) => {
        printGroup(ctx, await ctx.api.createConfiguration({ name: name!, datastore: opts.datastore, description: opts.description, values: opts.set ?? {} }));
      }),
    );

  cmd
    .command('list')
    .summary('List groups')
    .description('List the configuration groups you can see, with how many parameters and instances each has.')
    .action(
      action(async (ctx) => {
        const groups = await ctx.api.listConfigurations();
        if (ctx.out.json) return ctx.out.data(groups.map((g) => ({ ...g })));
        ctx.out.table(
          ['ID', 'NAME', 'DATASTORE', 'PARAMETERS', 'INSTANCES'],
          groups.map((g) => [g.id, g.name, g.datastore, Object.keys(g.values).length, g.instanceIds.length]),
        );
      }),
    );

  cmd
    .command('show')
    .summary('Show a group with its values and instances')
    .description('Show a configuration group: its values and the instances it is attached to.')
    .argument('<ID>', 'group id')
    .action(action(async (ctx, [id]) => printGroup(ctx, await ctx.api.getConfiguration(id!))));

  cmd
    .command('update')
    .summary('Change values (patch, or --replace the whole group); attached instances get them')
    .description(
      'Change a group: --set and --unset patch it, --replace makes the --set values the whole group. ' +
        'Every attached instance is sent the new values (restart-required ones wait for its next restart).',
    )
    .argument('<ID>', 'group id')
    .option('--set <NAME=VALUE>', 'set a parameter (repeat for several)', parameterPair)
    .option('--unset <NAME>', 'remove a parameter: back to the default (repeat for several)', collect)
    .option('--replace', 'the --set values become the whole group')
    .option('--name <NAME>', 'new display name')
    .option('--description <TEXT>', 'new description')
    .action(
      action<ValuesOpts & { unset?: string[]; replace?: boolean; name?: string; description?: string }>(async (ctx, [id], opts) => {
        if (opts.replace && opts.unset?.length) throw new UsageError('--unset has no meaning with --replace: the --set values are the whole group');
        const res = await ctx.api.updateConfiguration({
          id: id!,
          values: opts.set ?? {},
          unset: opts.unset ?? [],
          replace: !!opts.replace,
          name: opts.name,
          description: opts.description,
        });
        printGroup(ctx, res.group!);
        for (const op of res.operations) ctx.out.note(`applying to instance ${op.instanceId}: follow with stewardctl operation wait ${op.id}`);
      }),
    );

  cmd
    .command('delete')
    .summary('Delete a group (refused while attached)')
    .description('Delete a configuration group; refused while any instance has it attached.')
    .argument('<ID>', 'group id')
    .action(
      action(async (ctx, [id]) => {
        const g = await ctx.api.deleteConfiguration(id!);
        if (ctx.out.json) ctx.out.data({ ...g });
        else ctx.out.line(`configuration group ${g.id} deleted`);
      }),
    );

  cmd
    .command('attach')
    .summary('Attach a group to an instance and apply it')
    .description('Attach a group to an instance without one and apply it. Waits for it unless --no-wait; says which parameters wait for a restart.')
    .argument('<GROUP_ID>', 'group id')
    .argument('<INSTANCE_ID>', 'instance id')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [group, instance], opts) => {
        const op = await ctx.api.attachConfiguration(instance!, group!);
        await finishOperation(ctx, op, opts, (done) => applied(done, `configuration group ${group} attached to instance ${instance}`));
      }),
    );

  cmd
    .command('detach')
    .summary("Detach an instance's group: back to Steward's defaults")
    .description("Detach an instance's group: its parameters go back to Steward's defaults (restart-required ones at the next restart).")
    .argument('<INSTANCE_ID>', 'instance id')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [instance], opts) => {
        const op = await ctx.api.detachConfiguration(instance!);
        await finishOperation(ctx, op, opts, (done) => applied(done, `configuration group detached from instance ${instance}`));
      }),
    );

  cmd
    .command('defaults')
    .summary("A datastore's parameters: rules and the values Steward renders")
    .description(
      "List the parameters a group may set for a datastore: allowed values, unit, whether a restart is needed, and Steward's default for the instance size.",
    )
    .argument('<DATASTORE>', 'e.g. mysql')
    .option('--memory-mb <N>', 'instance size the defaults are for (default 512)', positiveInt)
    .action(
      action<{ memoryMb?: number }>(async (ctx, [datastore], opts) => {
        const res = await ctx.api.configurationDefaults(datastore!, opts.memoryMb);
        if (ctx.out.json) return ctx.out.data({ ...res });
        ctx.out.table(
          ['PARAMETER', 'DEFAULT', 'ALLOWED', 'UNIT', 'RESTART'],
          res.rules.map((r) => [
            r.name,
            res.defaults[r.name] ?? '',
            r.type === 'enum' ? r.values.join('|') : r.type === 'boolean' ? 'on|off' : `${r.min}..${r.max}`,
            r.unit,
            r.dynamic ? 'no' : 'yes',
          ]),
        );
      }),
    );

  return cmd;
}

function applied(op: Operation, done: string): string {
  const pending = resultOf(op.result, 'configuration')?.pendingRestart ?? [];
  return pending.length ? `${done}; restart the instance for ${pending.join(', ')}` : done;
}
