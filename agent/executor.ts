// Runs commands through the operations table (managers/sdk/operations): the
// journal first, then one mutating operation at a time per datastore (reads
// run alongside), each with its own signal so that a Cancel or the deadline
// reaches every child process and query.
//
// Races, and who wins:
// - A repeated operation id never runs again: the journal answers it.
// - Cancel or deadline versus completion: the manager's outcome stands. If it
//   succeeded, the work is done and is reported SUCCEEDED however late the
//   abort came. If it failed after the signal aborted, the abort is the cause:
//   CANCELLED (cancel) or FAILED with DEADLINE_EXCEEDED (deadline), not the
//   error the abort provoked downstream. Once an outcome is journaled, later
//   aborts change nothing.
// - The controller applies the first terminal state it receives and ignores the
//   rest, so the agent and the controller's own sweeps cannot both finish it.
import type { Command, OperationUpdate } from '../proto/gen/steward/v1/agent.js';
import type { AgentManager, ManagerIdentity } from '../managers/sdk/contract.js';
import { asStewardError, failedPrecondition, invalidArgument, StewardError } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import { checkCommand, isKnownPayload, specOf } from '../managers/sdk/operations/commands.js';
import { isTerminal, stateName, updates, type ByteProgress } from '../managers/sdk/operations/state.js';
import { scopedSignal } from '../managers/sdk/signals.js';
import type { Terms } from './fencing.js';
import type { Journal } from './journal.js';

export interface ExecutorDeps {
  journal: Journal;
  /** Replication terms: commands that carry one are refused when it is older than the highest accepted. */
  terms: Terms;
  manager: AgentManager;
  /** The datastore's capabilities and input rules (what the agent's Hello declares). */
  datastore: ManagerIdentity;
  log: Logger;
  /** Called after each journaled update so the session can send it now. */
  onUpdate(seq: number): void;
  /** A command that makes this instance a writable primary arrived (operations table: `grantsLease`). */
  onLeaseGranted?: () => void;
  /** This instance follows a source now (operations that write data are refused). */
  isReplica?: () => boolean;
}

export class Executor {
  private mutating: Promise<void> = Promise.resolve();
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly deps: ExecutorDeps) {}

  /** Marks what a previous process left RUNNING as FAILED: it died mid-operation. */
  recover(): void {
    for (const op of this.deps.journal.interrupted()) {
      this.deps.log.warn({ operationId: op.id, kind: op.kind }, 'operation interrupted by an agent restart');
      const err = new StewardError('ABORTED', `agent restarted while ${op.kind} was running; the operation did not finish`);
      this.emit({ ...updates.failed(op.id, err, op.progress), message: 'agent restarted during the operation' });
    }
  }

  /** Accepts a command. A known operation id is answered from the journal and never runs again. */
  submit(cmd: Command): void {
    const { journal, log } = this.deps;
    const known = journal.get(cmd.operationId);
    if (known) {
      log.info({ operationId: cmd.operationId, state: stateName(known.state) }, 'repeated operation id: answering from the journal');
      if (isTerminal(known.state)) this.emit(journal.outcomeOf(known));
      return;
    }
    const payload = cmd.payload;
    if (!isKnownPayload(payload)) {
      const err = invalidArgument('command', 'has no payload this agent understands');
      if (journal.begin(cmd.operationId, 'unknown')) this.emit(updates.failed(cmd.operationId, err, 0));
      return;
    }
    const spec = specOf(payload);
    // Reads are safe to repeat, so they skip the journal's run-once record and
    // its disk flush; only their answer goes through the outbox.
    if (spec.mutating && !journal.begin(cmd.operationId, spec.kind)) return;
    const cancel = new AbortController();
    this.running.set(cmd.operationId, cancel);
    const remaining = cmd.deadlineUnixMs > 0 ? Math.max(1, cmd.deadlineUnixMs - Date.now()) : undefined;
    const scope = scopedSignal([cancel.signal], remaining);
    const { signal } = scope;
    let lastProgress = 0;
    const op = {
      signal,
      progress: (percent: number, message: string, bytes?: ByteProgress) => {
        if (!spec.mutating) return;
        const u = updates.running(cmd.operationId, percent, message, bytes);
        lastProgress = u.progress;
        this.emit(u);
      },
    };
    const work = async () => {
      try {
        signal.throwIfAborted();
        checkCommand(payload, this.deps.datastore);
        if (spec.term) this.deps.terms.accept(spec.term(payload.value), spec.kind);
        if (spec.grantsLease) this.deps.onLeaseGranted?.();
        if (spec.writesData && this.deps.isReplica?.()) throw failedPrecondition(`${spec.kind} refused: this instance is a replica; run it on its primary`);
        log.info({ operationId: cmd.operationId, kind: spec.kind }, 'operation started');
        const result = await spec.run(this.deps.manager, payload.value, op);
        this.emit(updates.succeeded(cmd.operationId, result), spec.mutating);
        log.info({ operationId: cmd.operationId, kind: spec.kind }, 'operation succeeded');
      } catch (err) {
        const cause = signal.aborted ? (signal.reason ?? err) : err;
        log.warn({ operationId: cmd.operationId, kind: spec.kind, err: asStewardError(cause).message }, 'operation failed');
        this.emit(updates.failed(cmd.operationId, cause, lastProgress), spec.mutating);
      } finally {
        scope.dispose();
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

  /** Journals an update (`durable` false: a read's answer, safe to ask again for) and has the session send it. */
  private emit(update: OperationUpdate, durable = true): void {
    const { journal } = this.deps;
    let seq: number;
    if (journal.get(update.operationId)) seq = journal.update(update);
    else seq = durable ? journal.appendUpdate(update) : journal.appendReadAnswer(update);
    this.deps.onUpdate(seq);
  }
}
