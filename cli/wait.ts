// Following long work: an ora spinner when a person is watching, a plain line
// per change otherwise (CI logs, pipes), both on stderr. Waiting is always safe to
// abandon: the operation runs on the server regardless, so Ctrl-C and --timeout
// only say how to pick it up again.
import ora, { type Ora } from 'ora';
import { OperationState, type Operation } from '../proto/gen/steward/v1/common.js';
import type { Api } from './client.js';
import { CliError, ConnectionError, EXIT_INTERRUPTED, formatError } from './errors.js';
import { stateName, terminal } from './output.js';

/** Each Operations.Wait returns after this long even if nothing finished, so progress keeps moving. */
const WAIT_SLICE_MS = 2_000;
/** A controller restart takes a few seconds; don't give up on a long operation because of one. */
const RECONNECT_GIVE_UP_MS = 60_000;

export interface WaitOptions {
  /** Give up after this long (the work continues on the server). */
  timeoutMs?: number;
}

/** Without a terminal, work that ends this fast leaves no progress lines: only its result or its one error line. */
const QUIET_MS = 1_000;

export class Progress {
  private spinner?: Ora;
  private lastPrinted = '';
  private readonly since = Date.now();

  // A terminal that reports no width (some ptys, `script` without a size) makes ora's line clearing loop forever.
  constructor(interactive = !!process.stdout.isTTY && !!process.stderr.isTTY && (process.stderr.columns ?? 0) > 0) {
    if (interactive) this.spinner = ora({ stream: process.stderr, discardStdin: false });
  }

  /** Call again with the same text to let a slow start surface once QUIET_MS has passed. */
  update(text: string): void {
    if (this.spinner) {
      this.spinner.text = text;
      if (!this.spinner.isSpinning) this.spinner.start();
      return;
    }
    if (text === this.lastPrinted || Date.now() - this.since < QUIET_MS) return;
    this.lastPrinted = text;
    process.stderr.write(`${text}\n`);
  }

  succeed(text: string): void {
    if (this.spinner) this.spinner.succeed(text);
    else if (this.lastPrinted) process.stderr.write(`${text}\n`);
    this.spinner = undefined;
  }

  /** Clears the spinner without a final line: the error line that follows says it all. */
  stop(): void {
    this.spinner?.stop();
    this.spinner = undefined;
  }
}

const BAR_WIDTH = 20;

/** "[########------------]": long work (backups, restores) is easier to judge at a glance. */
export function progressBar(percent: number): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
}

function progressText(op: Operation): string {
  const head = `${op.kind}: ${op.progress}% ${progressBar(op.progress)}`;
  return op.message ? `${head} ${op.message}` : `${head} ${stateName(op.state).toLowerCase()}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `body` with Ctrl-C turned into a clean exit that tells the user how to
 * resume, instead of a stack trace or a half-drawn spinner.
 */
export async function interruptible<T>(progress: Progress, resumeHint: string, body: () => Promise<T>): Promise<T> {
  const onInt = () => {
    progress.stop();
    process.stderr.write(`${formatError(new CliError('CANCELLED', `stopped waiting; ${resumeHint}`))}\n`);
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', onInt);
  try {
    return await body();
  } finally {
    process.removeListener('SIGINT', onInt);
  }
}

/** Follows an operation to SUCCEEDED, FAILED or CANCELLED and returns it as it ended. */
export async function waitForOperation(api: Api, first: Operation, opts: WaitOptions = {}): Promise<Operation> {
  if (terminal(first)) return first;
  const progress = new Progress();
  const started = Date.now();
  const resume = `operation ${first.id} (${first.kind}) continues on the server: stewardctl operation wait ${first.id}`;
  let op = first;
  try {
    return await interruptible(progress, resume, async () => {
      let unreachableSince = 0;
      progress.update(progressText(op));
      while (!terminal(op)) {
        const left = opts.timeoutMs === undefined ? WAIT_SLICE_MS : opts.timeoutMs - (Date.now() - started);
        if (left <= 0) {
          throw new CliError('DEADLINE_EXCEEDED', `gave up waiting after ${opts.timeoutMs! / 1000} s with ${op.kind} ${stateName(op.state)}; ${resume}`);
        }
        try {
          op = await api.waitOperation(op.id, Math.min(WAIT_SLICE_MS, left));
          unreachableSince = 0;
        } catch (err) {
          if (!(err instanceof ConnectionError)) throw err;
          unreachableSince ||= Date.now();
          if (Date.now() - unreachableSince > RECONNECT_GIVE_UP_MS) throw err;
          progress.update(`${op.kind}: ${op.progress}% controller unreachable, retrying`);
          await sleep(1_000);
          continue;
        }
        // The end is reported once, by the caller (result or error line), not as one more progress step.
        if (!terminal(op)) progress.update(progressText(op));
      }
      return op;
    });
  } finally {
    if (op.state === OperationState.SUCCEEDED) progress.succeed(`${op.kind}: succeeded`);
    else progress.stop();
  }
}

/**
 * Calls `check` every `everyMs` until it returns a value. Used where the API has
 * no operation to wait on (instance deletion).
 */
export async function pollUntil<T>(
  progress: Progress,
  resumeHint: string,
  check: () => Promise<T | undefined>,
  opts: WaitOptions & { everyMs?: number; what: string },
): Promise<T> {
  const started = Date.now();
  return interruptible(progress, resumeHint, async () => {
    let unreachableSince = 0;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return v;
        unreachableSince = 0;
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err;
        unreachableSince ||= Date.now();
        if (Date.now() - unreachableSince > RECONNECT_GIVE_UP_MS) throw err;
      }
      if (opts.timeoutMs !== undefined && Date.now() - started >= opts.timeoutMs) {
        throw new CliError('DEADLINE_EXCEEDED', `gave up waiting after ${opts.timeoutMs / 1000} s for ${opts.what}; ${resumeHint}`);
      }
      await sleep(opts.everyMs ?? 1_000);
    }
  });
}
