// Runs commands: journal first, then one mutating operation at a time per
// datastore (reads run alongside), each with its own AbortController so that
// a Cancel or the deadline reaches every child process and query.
import type { Command, OperationUpdate } from '../proto/gen/steward/v1/agent.js';
import { OperationState, type OperationResult } from '../proto/gen/steward/v1/common.js';
import type { AgentManager, Capability, Validator } from '../managers/sdk/contract.js';
import { asStewardError, failedPrecondition } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import { resolveCommand } from './commands.js';
import { Journal, TERMINAL_STATES } from './journal.js';

export interface ExecutorDeps {
  journal: Journal;
  manager: AgentManager;
  validator: Validator;
  capabilities: readonly Capability[];
  log: Logger;
  /** Called after each journaled update so the session can send it now. */
  onUpdate(seq: number): void;
}

export class Executor {
  private mutating: Promise<void> = Promise.resolve();
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly deps: ExecutorDeps) {}

  /** Marks what a previous process left RUNNING as FAILED: it died mid-operation. */
  recover(): void {
    for (const op of this.deps.journal.interrupted()) {
      this.deps.log.warn({ operationId: op.id, kind: op.kind }, 'operation interrupted by an agent restart');
      this.emit({
        operationId: op.id,
        state: OperationState.FAILED,
        progress: op.progress,
        message: 'agent restarted during the operation',
        error: { code: 'ABORTED', message: `agent restarted while ${op.kind} was running; the operation did not finish` },
      });
    }
  }

  /** Accepts a command. A known operation id is answered from the journal and never runs again. */
  submit(cmd: Command): void {
    const { journal, log } = this.deps;
    const known = journal.get(cmd.operationId);
    if (known) {
      log.info({ operationId: cmd.operationId, state: OperationState[known.state] }, 'repeated operation id: answering from the journal');
      if (TERMINAL_STATES.has(known.state)) {
        this.emit({ operationId: known.id, state: known.state, progress: known.progress, message: known.message, result: known.result, error: known.error });
      }
      return;
    }
    let spec;
    try {
      spec = resolveCommand(cmd);
    } catch (err) {
      if (journal.begin(cmd.operationId, 'unknown')) this.fail(cmd.operationId, err, 0);
      return;
    }
    // Reads are safe to repeat, so they skip the journal's run-once record and
    // its disk flush; only their answer goes through the outbox.
    if (spec.mutating && !journal.begin(cmd.operationId, spec.kind)) return;
    const abort = new AbortController();
    this.running.set(cmd.operationId, abort);
    const remaining = cmd.deadlineUnixMs > 0 ? cmd.deadlineUnixMs - Date.now() : 0;
    const signal = remaining > 0 ? AbortSignal.any([abort.signal, AbortSignal.timeout(remaining)]) : abort.signal;
    let lastProgress = 0;
    const scope = {
      signal,
      progress: (percent: number, message: string) => {
        if (!spec.mutating) return;
        lastProgress = Math.max(0, Math.min(100, Math.round(percent)));
        this.emit({ operationId: cmd.operationId, state: OperationState.RUNNING, progress: lastProgress, message });
      },
    };
    const work = async () => {
      try {
        signal.throwIfAborted();
        if (spec.needs && !this.deps.capabilities.includes(spec.needs)) {
          throw failedPrecondition(`this datastore does not support ${spec.needs}`);
        }
        log.info({ operationId: cmd.operationId, kind: spec.kind }, 'operation started');
        const result = await spec.run(this.deps.manager, scope, this.deps.validator);
        this.succeed(cmd.operationId, result);
        log.info({ operationId: cmd.operationId, kind: spec.kind }, 'operation succeeded');
      } catch (err) {
        log.warn({ operationId: cmd.operationId, kind: spec.kind, err: asStewardError(err).message }, 'operation failed');
        this.fail(cmd.operationId, signal.aborted ? (signal.reason ?? err) : err, lastProgress);
      } finally {
        this.running.delete(cmd.operationId);
      }
    };
    if (spec.mutating) {
      const next = this.mutating.then(work);
      this.mutating = next;
    } else {
      void work();
    }
  }

  cancel(operationId: string): void {
    this.running.get(operationId)?.abort(Object.assign(new Error('cancelled by the controller'), { name: 'AbortError' }));
  }

  /** Waits for running work (used on shutdown), cancelling after `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    const timer = setTimeout(() => this.running.forEach((a) => a.abort()), graceMs);
    await this.mutating.catch(() => undefined);
    clearTimeout(timer);
  }

  get busy(): boolean {
    return this.running.size > 0;
  }

  private succeed(operationId: string, result: OperationResult): void {
    this.emit({ operationId, state: OperationState.SUCCEEDED, progress: 100, message: 'done', result });
  }

  private fail(operationId: string, err: unknown, progress: number): void {
    const e = asStewardError(err);
    const state = e.code === 'CANCELLED' ? OperationState.CANCELLED : OperationState.FAILED;
    this.emit({ operationId, state, progress, message: e.message, error: { code: e.code, message: e.message } });
  }

  private emit(update: Omit<OperationUpdate, 'result' | 'error'> & Partial<OperationUpdate>): void {
    const full = { result: undefined, error: undefined, ...update };
    const { journal } = this.deps;
    const seq = journal.get(full.operationId) ? journal.update(full) : journal.append({ update: full });
    this.deps.onUpdate(seq);
  }
}
