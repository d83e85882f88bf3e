// stewardctl log: an instance's datastore logs (Trove's guest logs): list,
// switch optional ones on and off, read the end of one, publish a copy to the
// backup storage and discard published copies.
import type { Command } from 'commander';
import { action, finishOperation, NO_WAIT_HELP, positiveInt, type NoWaitOption } from './common.js';
import { humanBytes } from './backup.js';

export function logCommand(parent: Command): Command {
  const cmd = parent
    .command('log')
    .alias('logs')
    .summary("An instance's datastore logs: list, enable, disable, show, publish, discard")
    .description(
      "The datastore's logs on an instance: the server's own log (always on) and optional ones such as the slow query log. " +
        'Text shown or published never contains a password the agent knows.',
    );

  cmd
    .command('list')
    .summary('List the logs of an instance')
    .description('List the logs of an instance: whether each is optional and enabled, its size and how many copies are published.')
    .argument('<ID>', 'instance id')
    .option('--published', 'list the published copies instead')
    .action(
      action<{ published?: boolean }>(async (ctx, [id], opts) => {
        if (opts.published) {
          const copies = await ctx.api.listPublishedLogs(id!);
          if (ctx.out.json) return ctx.out.data(copies.map((c) => ({ ...c })));
          return ctx.out.table(
            ['ID', 'LOG', 'STATUS', 'SIZE', 'LOCATION', 'CREATED'],
            copies.map((c) => [c.id, c.name, c.message ? `${c.status}: ${c.message}` : c.status, humanBytes(c.size), c.location, c.createdAt]),
          );
        }
        const logs = await ctx.api.listLogs(id!);
        if (ctx.out.json) return ctx.out.data(logs.map((l) => ({ ...l })));
        ctx.out.table(
          ['NAME', 'TYPE', 'ENABLED', 'SIZE', 'THRESHOLD', 'PUBLISHED'],
          logs.map((l) => [
            l.name,
            l.optional ? 'optional' : 'always-on',
            l.enabled,
            humanBytes(l.size),
            l.optional && l.thresholdMs ? `${l.thresholdMs} ms` : '',
            l.published,
          ]),
        );
      }),
    );

  cmd
    .command('enable')
    .summary('Turn an optional log on')
    .description('Turn an optional log on (at once, no restart); it stays on over any configuration group until disabled.')
    .argument('<ID>', 'instance id')
    .argument('<LOG>', 'log name, e.g. slow_query')
    .option('--threshold-ms <N>', 'slow logs: log statements slower than this', positiveInt)
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption & { thresholdMs?: number }>(async (ctx, [id, name], opts) => {
        const op = await ctx.api.enableLog(id!, name!, opts.thresholdMs);
        await finishOperation(ctx, op, opts, () => `log ${name} enabled on instance ${id}`);
      }),
    );

  cmd
    .command('disable')
    .summary('Turn an optional log off')
    .description('Turn an optional log off (at once, no restart).')
    .argument('<ID>', 'instance id')
    .argument('<LOG>', 'log name')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [id, name], opts) => {
        const op = await ctx.api.disableLog(id!, name!);
        await finishOperation(ctx, op, opts, () => `log ${name} disabled on instance ${id}`);
      }),
    );

  cmd
    .command('show')
    .summary('Print the end of a log')
    .description('Print the last lines of a log (at most 1000), secrets redacted.')
    .argument('<ID>', 'instance id')
    .argument('<LOG>', 'log name')
    .option('--lines <N>', 'how many lines (default 50, at most 1000)', positiveInt)
    .action(
      action<{ lines?: number }>(async (ctx, [id, name], opts) => {
        const tail = await ctx.api.showLog(id!, name!, opts.lines);
        if (ctx.out.json) return ctx.out.data({ ...tail });
        if (tail.text) ctx.out.line(tail.text);
        if (tail.truncated) ctx.out.note(`stewardctl: showing the end of ${humanBytes(tail.size)}; publish the log for all of it`);
      }),
    );

  cmd
    .command('publish')
    .summary('Copy a log to the backup storage')
    .description('Copy a log, as it is now, to the backup storage: redacted, compressed, encrypted and checksummed like a backup.')
    .argument('<ID>', 'instance id')
    .argument('<LOG>', 'log name')
    .option('--no-wait', NO_WAIT_HELP)
    .action(
      action<NoWaitOption>(async (ctx, [id, name], opts) => {
        const { published, operation } = await ctx.api.publishLog(id!, name!);
        await finishOperation(ctx, operation!, opts, () => `log ${name} published as ${published!.id}`);
      }),
    );

  cmd
    .command('discard')
    .summary('Remove a published copy')
    .description('Remove a published copy of a log from the backup storage, then its record.')
    .argument('<PUBLISHED_ID>', 'id of the published copy (log list ID --published)')
    .action(
      action(async (ctx, [id]) => {
        const gone = await ctx.api.discardLog(id!);
        if (ctx.out.json) ctx.out.data({ ...gone });
        else ctx.out.line(`published log ${gone.id} discarded`);
      }),
    );

  return cmd;
}
