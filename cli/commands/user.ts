import type { Command } from 'commander';
import type { UserRef } from '../../proto/gen/steward/v1/common.js';
import { UsageError } from '../errors.js';
import { userJson, userLabel } from '../output.js';
import { readPassword, type PasswordOptions } from '../password.js';
import { action, collect, finishOperation, NO_WAIT_HELP, type NoWaitOption } from './common.js';

const HOST_HELP = 'MySQL host pattern of the account (default: %, any host)';

interface HostOpt {
  host?: string;
}

const ref = (name: string, opts: HostOpt): UserRef => ({ name, host: opts.host ?? '' });
const label = (name: string, opts: HostOpt) => userLabel(ref(name, opts));

function requireDatabases(list: string[] | undefined): string[] {
  if (!list?.length) throw new UsageError('name at least one --database');
  return list;
}

export function userCommand(parent: Command): Command {
  const cmd = parent
    .command('user')
    .summary('Manage users, passwords and database access')
    .alias('users')
    .description('Manage the database users of an instance and their access to databases.');

  cmd
    .command('create')
    .summary('Create a user, optionally with database access')
    .description('Create a user, optionally with access to some databases. Waits for it unless --no-wait.')
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'user name')
    .option('--password <P>', 'the password (visible in shell history and ps: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin (prompted twice at a terminal)')
    .option('--host <H>', HOST_HELP)
    .option('--database <DB>', 'grant access to this database (repeat for several)', collect)
    .option('--permissions <P>', 'Redis ACL users: read-only, read-write, or an ACL rule string')
    .option('--no-wait', NO_WAIT_HELP)
    .addHelpText(
      'after',
      `
Examples:
  stewardctl user create $ID app --password-stdin --database shop < app.pw
  stewardctl user create $ID report --host 10.0.0.% --password 'S3cret-pw' --database shop --database stats`,
    )
    .action(
      action<NoWaitOption & HostOpt & PasswordOptions & { database?: string[]; permissions?: string }>(async (ctx, [id, name], opts) => {
        const password = await readPassword(opts, `user ${name}`);
        const access = (opts.database ?? []).map((database) => ({ database }));
        const op = await ctx.api.createUsers(id!, [{ name: name!, host: opts.host ?? '', password, access, permissions: opts.permissions }]);
        await finishOperation(ctx, op, opts, () => `user ${label(name!, opts)} created on instance ${id}`);
      }),
    );

  cmd
    .command('list')
    .summary('List users and their databases')
    .alias('ls')
    .description('List the users of an instance with the databases each may use (system accounts excluded).')
    .argument('<ID>', 'instance id')
    .action(
      action(async (ctx, [id]) => {
        const users = await ctx.api.listUsers(id!);
        if (ctx.out.json) return ctx.out.data(users.map(userJson));
        const perms = users.some((u) => u.permissions);
        ctx.out.table(
          ['name', 'host', 'databases', ...(perms ? ['permissions'] : [])],
          users.map((u) => [u.name, u.host, u.access.map((a) => a.database).join(', '), ...(perms ? [u.permissions] : [])]),
        );
      }),
    );

  cmd
    .command('show')
    .summary('Show one user and its databases')
    .alias('get')
    .description('Show one user and the databases it may use.')
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'user name')
    .option('--host <H>', HOST_HELP)
    .action(
      action<HostOpt>(async (ctx, [id, name], opts) => {
        const u = await ctx.api.getUser(id!, ref(name!, opts));
        if (ctx.out.json) return ctx.out.data(userJson(u));
        ctx.out.record([
          ['name', u.name],
          ['host', u.host],
          ['databases', u.access.map((a) => a.database).join(', ')],
          ...(u.permissions ? ([['permissions', u.permissions]] as [string, string][]) : []),
        ]);
      }),
    );

  cmd
    .command('delete')
    .summary('Drop a user')
    .alias('rm')
    .description('Drop a user. Its databases stay. Waits for it unless --no-wait.')
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'user name')
    .option('--host <H>', HOST_HELP)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption & HostOpt>(async (ctx, [id, name], opts) => {
        const op = await ctx.api.deleteUser(id!, ref(name!, opts));
        await finishOperation(ctx, op, opts, () => `user ${label(name!, opts)} deleted from instance ${id}`);
      }),
    );

  for (const verb of ['grant', 'revoke'] as const) {
    cmd
      .command(verb)
      .summary(verb === 'grant' ? 'Give a user access to databases' : "Take away a user's access to databases")
      .description(
        verb === 'grant'
          ? 'Give a user full access to databases. Waits for it unless --no-wait.'
          : "Take away a user's access to databases. Waits for it unless --no-wait.",
      )
      .argument('<ID>', 'instance id')
      .argument('<NAME>', 'user name')
      .option('--database <DB>', `database to ${verb} access ${verb === 'grant' ? 'to' : 'on'} (required; repeat for several)`, collect)
      .option('--host <H>', HOST_HELP)
      .option('--no-wait', NO_WAIT_HELP)
      .addHelpText('after', `\nExample:\n  stewardctl user ${verb} $ID app --database shop --database stats`)
      .action(
        action<NoWaitOption & HostOpt & { database?: string[] }>(async (ctx, [id, name], opts) => {
          const dbs = requireDatabases(opts.database);
          const op = await (verb === 'grant' ? ctx.api.grant(id!, ref(name!, opts), dbs) : ctx.api.revoke(id!, ref(name!, opts), dbs));
          const what = verb === 'grant' ? 'granted access to' : 'revoked access to';
          await finishOperation(ctx, op, opts, () => `user ${label(name!, opts)}: ${what} ${dbs.join(', ')}`);
        }),
      );
  }

  cmd
    .command('password')
    .summary("Change a user's password")
    .description("Change a user's password. Waits for it unless --no-wait.")
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'user name')
    .option('--password <P>', 'the new password (visible in shell history and ps: prefer --password-stdin)')
    .option('--password-stdin', 'read the new password from stdin (prompted twice at a terminal)')
    .option('--host <H>', HOST_HELP)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption & HostOpt & PasswordOptions>(async (ctx, [id, name], opts) => {
        const password = await readPassword(opts, `user ${name}`);
        const op = await ctx.api.changePassword(id!, ref(name!, opts), password);
        await finishOperation(ctx, op, opts, () => `password of user ${label(name!, opts)} changed`);
      }),
    );

  return cmd;
}
