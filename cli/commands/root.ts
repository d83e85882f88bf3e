import type { Command } from 'commander';
import { rootJson } from '../output.js';
import { action, finishOperation, NO_WAIT_HELP, type NoWaitOption } from './common.js';

export function rootCommand(parent: Command): Command {
  const cmd = parent
    .command('root')
    .summary('Enable, show or disable the root account')
    .description("The datastore's superuser account (MySQL/MariaDB: root@'%'). Steward keeps its own admin account; root is for you.");

  cmd
    .command('enable')
    .summary('Enable root with a new password, shown once')
    .description(
      'Create (or reset) the root account with a newly generated password and print it. ' +
        'The password is shown this once and stored nowhere you can read it back; running enable again resets it.',
    )
    .argument('<ID>', 'instance id')
    .addHelpText(
      'after',
      '\nExample (keep it in a secret store right away):\n  stewardctl root enable $ID --json | jq -r .password | pass insert -e db/$ID/root',
    )
    .action(
      action(async (ctx, [id]) => {
        const r = await ctx.api.enableRoot(id!);
        if (ctx.out.json) ctx.out.data(rootJson(r));
        else {
          ctx.out.record([
            ['user', r.user],
            ['password', r.password],
          ]);
        }
        ctx.out.note('stewardctl: warning: this password is not shown again; store it now (root enable again resets it)');
      }),
    );

  cmd
    .command('show')
    .summary('Say whether root is enabled')
    .alias('status')
    .description('Say whether the root account is enabled (never shows the password).')
    .argument('<ID>', 'instance id')
    .action(
      action(async (ctx, [id]) => {
        const r = await ctx.api.rootStatus(id!);
        if (ctx.out.json) return ctx.out.data(rootJson(r));
        ctx.out.record([
          ['enabled', r.enabled],
          ['user', r.user],
        ]);
      }),
    );

  cmd
    .command('disable')
    .summary('Remove the root account')
    .description('Remove the root account again. Waits for it unless --no-wait.')
    .argument('<ID>', 'instance id')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [id], opts) => {
        const op = await ctx.api.disableRoot(id!);
        await finishOperation(ctx, op, opts, () => `root disabled on instance ${id}`);
      }),
    );

  return cmd;
}
