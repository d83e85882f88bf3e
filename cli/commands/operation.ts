import type { Command } from 'commander';
import { operationJson, operationRecord, resultSummary, stateName } from '../output.js';
import { waitForOperation } from '../wait.js';
import { action, reportOutcome } from './common.js';

export function operationCommand(parent: Command): Command {
  const cmd = parent
    .command('operation')
    .summary('Show, wait for, list and cancel operations')
    .alias('op')
    .description(
      'Follow long-running work. Every change (create, restart, users, databases, ...) is an operation with a state ' +
        '(PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED), a progress percentage and, when it ends, a result or an error.',
    );

  cmd
    .command('show')
    .summary('Show an operation as it stands now')
    .alias('get')
    .description('Show an operation as it stands now (exits 0 whatever its state).')
    .argument('<OPID>', 'operation id')
    .action(
      action(async (ctx, [id]) => {
        const op = await ctx.api.getOperation(id!);
        if (ctx.out.json) return ctx.out.data(operationJson(op));
        operationRecord(ctx.out, op);
      }),
    );

  cmd
    .command('wait')
    .summary('Wait for an operation to finish, showing progress')
    .description(
      'Wait for an operation to finish, showing its progress. Exits 0 if it SUCCEEDED, 1 with its error if it FAILED or was CANCELLED. ' +
        'Ctrl-C stops waiting, not the operation.',
    )
    .argument('<OPID>', 'operation id')
    .addHelpText('after', '\nExample:\n  OP=$(stewardctl instance restart $ID --no-wait) && stewardctl operation wait $OP --timeout 300')
    .action(
      action(async (ctx, [id]) => {
        const op = await waitForOperation(ctx.api, await ctx.api.getOperation(id!), ctx.wait);
        reportOutcome(ctx, op, (o) => `${o.kind} ${stateName(o.state).toLowerCase()}${resultSummary(o) ? `: ${resultSummary(o)}` : ''}`);
      }),
    );

  cmd
    .command('list')
    .alias('ls')
    .description('List the recent operations of an instance, newest first.')
    .argument('<ID>', 'instance id')
    .action(
      action(async (ctx, [id]) => {
        const ops = await ctx.api.listOperations(id!);
        if (ctx.out.json) return ctx.out.data(ops.map(operationJson));
        ctx.out.table(
          ['id', 'kind', 'state', 'progress', 'created', 'message'],
          ops.map((o) => [o.id, o.kind, stateName(o.state), `${o.progress}%`, o.createdAt, o.error ? `${o.error.code}: ${o.error.message}` : o.message]),
        );
      }),
    );

  cmd
    .command('cancel')
    .summary('Cancel an unfinished operation')
    .description('Cancel an unfinished operation: the controller marks it CANCELLED and tells the agent to stop it.')
    .argument('<OPID>', 'operation id')
    .action(
      action(async (ctx, [id]) => {
        const op = await ctx.api.cancelOperation(id!);
        if (ctx.out.json) return ctx.out.data(operationJson(op));
        ctx.out.line(`operation ${op.id} (${op.kind}) is ${stateName(op.state)}`);
      }),
    );

  return cmd;
}
