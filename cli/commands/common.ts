// What every command shares: the context an action runs with, option parsers
// that fail as usage errors (exit 2) before anything is sent, and the
// start-then-wait handling of operations.
import { InvalidArgumentError, type Command } from 'commander';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { Api, resolveSettings, type GlobalOptions } from '../client.js';
import { CliError } from '../errors.js';
import { Output, errorName, operationJson, stateName } from '../output.js';
import { waitForOperation, type WaitOptions } from '../wait.js';

export interface Ctx {
  api: Api;
  out: Output;
  wait: WaitOptions;
}

interface AllGlobals extends GlobalOptions {
  json?: boolean;
  timeout?: number;
}

/**
 * Wraps an action: resolves settings and connects only when the command runs
 * (so --help works with a broken config), and always closes the channel so the
 * process can exit on its own.
 */
export function action<O>(fn: (ctx: Ctx, args: string[], opts: O) => Promise<void>) {
  return async (...params: unknown[]): Promise<void> => {
    const cmd = params[params.length - 1] as Command;
    const globals = cmd.optsWithGlobals<AllGlobals>();
    const api = new Api(resolveSettings(globals));
    const ctx: Ctx = {
      api,
      out: new Output(!!globals.json),
      wait: { timeoutMs: globals.timeout === undefined ? undefined : globals.timeout * 1000 },
    };
    try {
      await fn(ctx, cmd.processedArgs as string[], cmd.opts() as O);
    } finally {
      api.close();
    }
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

export function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** The one line an unsuccessful operation ends with; the code is the operation's own error code. */
export function operationFailure(op: Operation): CliError {
  const state = stateName(op.state).toLowerCase();
  const code = op.error ? errorName(op.error) : op.state === OperationState.CANCELLED ? 'CANCELLED' : 'UNKNOWN';
  const why = op.error?.message || op.message || 'no reason given';
  return new CliError(code, `${op.kind} ${state} (operation ${op.id}): ${why}`);
}

export interface NoWaitOption {
  /** commander turns `--no-wait` into `wait: false`. */
  wait?: boolean;
}

/**
 * The tail of every mutating command. With --no-wait: the operation id on
 * stdout (the operation object with --json). Otherwise: follow it, then the
 * operation (--json) or `done` (text); a failed or cancelled one exits 1.
 */
export async function finishOperation(ctx: Ctx, op: Operation, opts: NoWaitOption, done: (op: Operation) => string | void): Promise<Operation> {
  if (opts.wait === false) {
    if (ctx.out.json) ctx.out.data(operationJson(op));
    else {
      ctx.out.line(op.id);
      ctx.out.note(`${op.kind} started; follow it with: stewardctl operation wait ${op.id}`);
    }
    return op;
  }
  const final = await waitForOperation(ctx.api, op, ctx.wait);
  reportOutcome(ctx, final, done);
  return final;
}

export function reportOutcome(ctx: Ctx, op: Operation, done: (op: Operation) => string | void): void {
  // Scripts get the operation even when it failed: the error is in it, and the exit code says so.
  if (ctx.out.json) ctx.out.data(operationJson(op));
  if (op.state !== OperationState.SUCCEEDED) throw operationFailure(op);
  if (!ctx.out.json) {
    const text = done(op);
    if (text) ctx.out.line(text);
  }
}

/** `--wait`/`--no-wait` as commands document it. */
export const NO_WAIT_HELP = 'return at once with the operation id instead of waiting for the operation to finish';
