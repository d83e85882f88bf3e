import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, collect, finishOperation, NO_WAIT_HELP, type NoWaitOption } from './common.js';

/** `dc1=3` pairs into the map the API takes. */
function parseReplication(pairs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pairs) {
    const m = /^([^=\s]+)=(\d+)$/.exec(p);
    if (!m || Number(m[2]) < 1) throw new UsageError(`--replication "${p}": expected DATACENTER=FACTOR, e.g. dc1=3`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

export function databaseCommand(parent: Command): Command {
  const cmd = parent
    .command('database')
    .summary('Create, list and delete databases of an instance')
    .alias('db')
    .description('Manage the databases (MySQL schemas) of an instance.');

  cmd
    .command('create')
    .summary('Create a database')
    .description('Create a database on an instance. Waits for it unless --no-wait.')
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'database name')
    .option('--character-set <X>', 'character set (MySQL) or encoding (PostgreSQL); default: the server default')
    .option('--collation <Y>', 'collation (MySQL) or LC_COLLATE (PostgreSQL); default: that of the character set')
    .option('--ctype <Z>', 'LC_CTYPE (PostgreSQL)')
    .option('--replication <DC=N>', 'replication factor in a data center (Cassandra keyspaces; repeat per data center)', collect)
    .option('--no-wait', NO_WAIT_HELP)
    .addHelpText(
      'after',
      `
Options the datastore has no use for are refused by the server (INVALID_ARGUMENT).

Examples:
  stewardctl database create $ID shop --character-set utf8mb4 --collation utf8mb4_unicode_ci
  stewardctl database create $ID events --replication dc1=3 --replication dc2=2`,
    )
    .action(
      action<NoWaitOption & { characterSet?: string; collation?: string; ctype?: string; replication?: string[] }>(async (ctx, [id, name], opts) => {
        const replication = parseReplication(opts.replication ?? []);
        const db = { name: name!, characterSet: opts.characterSet, collation: opts.collation, ctype: opts.ctype, replication };
        const op = await ctx.api.createDatabases(id!, [db]);
        await finishOperation(ctx, op, opts, () => `database ${name} created on instance ${id}`);
      }),
    );

  cmd
    .command('list')
    .summary('List databases')
    .alias('ls')
    .description('List the databases of an instance (system schemas excluded).')
    .argument('<ID>', 'instance id')
    .action(
      action(async (ctx, [id]) => {
        const dbs = await ctx.api.listDatabases(id!);
        if (ctx.out.json) return ctx.out.data(dbs);
        // Columns only a few datastores fill appear only when something is in them.
        const ctype = dbs.some((d) => d.ctype);
        const repl = dbs.some((d) => Object.keys(d.replication ?? {}).length);
        ctx.out.table(
          ['name', 'character set', 'collation', ...(ctype ? ['ctype'] : []), ...(repl ? ['replication'] : [])],
          dbs.map((d) => [
            d.name,
            d.characterSet,
            d.collation,
            ...(ctype ? [d.ctype] : []),
            ...(repl
              ? [
                  Object.entries(d.replication ?? {})
                    .map(([dc, n]) => `${dc}=${n}`)
                    .join(', '),
                ]
              : []),
          ]),
        );
      }),
    );

  cmd
    .command('delete')
    .summary('Drop a database and everything in it')
    .alias('rm')
    .description('Drop a database and everything in it. Waits for it unless --no-wait.')
    .argument('<ID>', 'instance id')
    .argument('<NAME>', 'database name')
    .option('--terminate-connections', 'end live sessions on the database first instead of refusing (PostgreSQL)')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption & { terminateConnections?: boolean }>(async (ctx, [id, name], opts) => {
        const op = await ctx.api.deleteDatabase(id!, name!, !!opts.terminateConnections);
        await finishOperation(ctx, op, opts, () => `database ${name} deleted from instance ${id}`);
      }),
    );

  return cmd;
}
