// Persisted operations: created PENDING, sent to the agent as a Command with the
// same id, moved along by the agent's OperationUpdates. Non-terminal operations
// are re-sent whenever their agent reconnects (the agent's journal makes that
// safe), and swept to FAILED when their deadline passes or their agent is lost.
// What an operation is (kind, capability, deadline, event, task) comes from the
// operations table; its state moves only along managers/sdk/operations/state.ts.
// The moments that matter to other state happen here and nowhere else, each
// inside the transaction that records it: accepted, progressed, finished.
// The first terminal state wins: every write is a guarded update of an
// unfinished row, so an agent's late report, a deadline sweep, a lost-agent
// sweep and a cancel can race and exactly one of them ends the operation.
import { randomUUID } from 'node:crypto';
import { Command, type OperationUpdate } from '../proto/gen/steward/v1/agent.js';
import { OperationResult, type Operation } from '../proto/gen/steward/v1/common.js';
import {
  codeNumber,
  codeOfName,
  codeOfNumber,
  failedPrecondition,
  hasCode,
  notFound,
  StewardError,
  unavailable,
  type ErrorCode,
} from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import { checkCommand } from '../managers/sdk/operations/commands.js';
import type { CommandPayload } from '../managers/sdk/operations/payload.js';
import { failureState, isTerminal, OperationState, UNFINISHED } from '../managers/sdk/operations/state.js';
import type { AgentRegistry } from './agent-registry.js';
import type { DatastoreCatalog } from './catalog.js';
import type { Store } from './store/open.js';
import type { OperationsTable } from './store/schema.js';
import { nowIso } from './clock.js';
import type { Notifier } from './notifications/notifier.js';
import type { CommandCodec } from './command-codec.js';

export type FinishedListener = (op: OperationsTable) => Promise<void>;
/**
 * State that must change together with an operation, inside its transaction:
 * 'accepted' (recorded, before its `.start`), 'progressed' (a RUNNING report),
 * 'finished' (its outcome, before its `.end`/`.error`, so the event sees the effect).
 */
export type OperationMoment = 'accepted' | 'progressed' | 'finished';
export type OperationHook = (trx: Store, op: OperationsTable, moment: OperationMoment) => Promise<void>;

export interface StartOptions {
  /** Overrides the table's default deadline. */
  timeoutMs?: number;
  /** Refuse with UNAVAILABLE (recording nothing) unless the agent is connected; false: wait PENDING for it. */
  requireConnected?: boolean;
  /** More state to change in the acceptance transaction, before the `.start` event is written. */
  inTransaction?: (trx: Store, op: OperationsTable) => Promise<void>;
}

export class OperationService {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly listeners: FinishedListener[] = [];
  private readonly hooks: OperationHook[] = [];
  /** Results that carry a secret (a root password) live here only, until the caller reads them once. */
  private readonly secretResults = new Map<string, OperationResult>();

  constructor(
    private readonly store: Store,
    private readonly agents: AgentRegistry,
    private readonly catalog: DatastoreCatalog,
    private readonly log: Logger,
    private readonly notifier: Notifier,
    private readonly commands: CommandCodec,
  ) {}

  /** The command of an operation as sent (its stored copy is sealed). */
  commandOf(row: OperationsTable): Command | undefined {
    return row.command ? this.commands.open(row.command, row.id) : undefined;
  }

  /** The row with its command in clear, for code in this process that reads it (event payloads). */
  private inClear(row: OperationsTable): OperationsTable {
    const command = this.commandOf(row);
    return command ? { ...row, command: Buffer.from(Command.encode(command).finish()) } : row;
  }

  /** Called after an outcome is committed. */
  onFinished(listener: FinishedListener): void {
    this.listeners.push(listener);
  }

  /** Called inside the transaction of every moment of every operation. */
  onChange(hook: OperationHook): void {
    this.hooks.push(hook);
  }

  /**
   * Checks a command against the instance's datastore (capabilities, input:
   * the operations table's one entry point), records it and sends it.
   */
  async start(instanceId: string, payload: CommandPayload, opts: StartOptions = {}): Promise<OperationsTable> {
    const inst = await this.store.selectFrom('instances').select(['datastore', 'replica_of']).where('id', '=', instanceId).executeTakeFirst();
    if (!inst) throw notFound(`instance ${instanceId} not found`);
    const spec = checkCommand(payload, this.catalog.get(inst.datastore));
    if (spec.writesData && inst.replica_of) {
      throw failedPrecondition(
        `instance ${instanceId} is a replica of ${inst.replica_of}: ${spec.kind} runs on its primary, and replicas receive it from there`,
      );
    }
    if ((opts.requireConnected ?? true) && !this.agents.isConnected(instanceId)) {
      throw unavailable(`the agent of instance ${instanceId} is not connected`);
    }
    const id = randomUUID();
    const deadline = Date.now() + (opts.timeoutMs ?? spec.deadlineMs);
    const command: Command = { operationId: id, deadlineUnixMs: deadline, payload };
    const now = nowIso();
    const row: OperationsTable = {
      id,
      instance_id: instanceId,
      kind: spec.kind,
      state: OperationState.PENDING,
      progress: 0,
      message: 'queued',
      command: this.commands.seal(command),
      result: null,
      error_code: null,
      error_message: null,
      deadline_at: deadline,
      bytes_done: 0,
      bytes_total: 0,
      created_at: now,
      updated_at: now,
    };
    await this.notifier.transaction(this.store, async (trx) => {
      await trx.insertInto('operations').values(row).execute();
      for (const hook of this.hooks) await hook(trx, row, 'accepted');
      await opts.inTransaction?.(trx, row);
      await this.notifier.operation(trx, this.inClear(row), 'accepted');
    });
    this.agents.send(instanceId, { body: { $case: 'command', value: command } });
    return row;
  }

  /** Re-sends every unfinished operation of an instance, oldest first (after a reconnect). */
  async redeliver(instanceId: string): Promise<number> {
    const rows = await this.unfinished(instanceId);
    for (const r of rows) {
      const command = this.commandOf(r);
      if (command) this.agents.send(instanceId, { body: { $case: 'command', value: command } });
    }
    return rows.length;
  }

  /**
   * Applies an agent's update. The operation must belong to the reporting
   * instance; updates to finished operations are ignored (the first outcome wins).
   */
  async applyUpdate(instanceId: string, u: OperationUpdate): Promise<void> {
    // Only a missing row is ignored: a store that cannot answer refuses the report, which the agent replays.
    const row = await this.get(u.operationId).catch((err) => {
      if (hasCode(err, 'NOT_FOUND')) return undefined;
      throw err;
    });
    if (!row || row.instance_id !== instanceId) {
      this.log.warn({ instanceId, operationId: u.operationId }, 'update for an operation this agent does not own: ignored');
      return;
    }
    if (isTerminal(row.state)) return;
    const root = u.result?.result?.$case === 'root' ? u.result.result.value : undefined;
    if (root?.password) {
      this.secretResults.set(row.id, u.result!);
      setTimeout(() => this.secretResults.delete(row.id), 5 * 60_000).unref();
    }
    const stored: OperationResult | undefined = root ? { result: { $case: 'root', value: { ...root, password: '' } } } : u.result;
    const patch = {
      state: u.state,
      progress: u.progress,
      message: u.message,
      result: stored ? Buffer.from(OperationResult.encode(stored).finish()) : null,
      error_code: u.error ? codeOfNumber(u.error.code) : null,
      error_message: u.error?.message ?? null,
      ...(u.bytesDone || u.bytesTotal ? { bytes_done: u.bytesDone, bytes_total: u.bytesTotal } : {}),
    };
    try {
      await this.move(row, patch);
    } catch (err) {
      if (!(err instanceof HookFailure)) throw err; // the store itself: refuse, the agent replays it later
      // A state change that cannot be applied to this report would refuse it on every replay and lose
      // the agent with it: the operation ends FAILED with the reason instead, and the stream goes on.
      const message = `the controller could not apply the agent's report: ${err.cause.message}`;
      this.log.error({ instanceId, operationId: row.id, err: err.cause.message }, 'operation hook failed: operation failed');
      await this.move(row, { state: OperationState.FAILED, message, error_code: 'INTERNAL', error_message: message, result: null }).catch((again: Error) =>
        this.log.error({ operationId: row.id, err: again.message }, 'could not fail the operation either: the deadline sweep will'),
      );
    }
  }

  /** Fails an unfinished operation from the controller's side (deadline, lost agent, deletion, cancel). */
  async abandon(row: OperationsTable, code: ErrorCode, message: string): Promise<void> {
    await this.move(row, { state: failureState(code), message, error_code: code, error_message: message });
    if (this.agents.isConnected(row.instance_id)) this.agents.send(row.instance_id, { body: { $case: 'cancel', value: { operationId: row.id } } });
  }

  async failUnfinished(instanceId: string, code: ErrorCode, message: string): Promise<void> {
    for (const r of await this.unfinished(instanceId)) await this.abandon(r, code, message);
  }

  async sweepDeadlines(now = Date.now()): Promise<void> {
    const rows = await this.store.selectFrom('operations').selectAll().where('state', 'in', UNFINISHED).where('deadline_at', '<', now).execute();
    for (const r of rows) await this.abandon(r, 'DEADLINE_EXCEEDED', `${r.kind} did not finish before its deadline`);
  }

  async get(id: string): Promise<OperationsTable> {
    const row = await this.store.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`operation ${id} not found`);
    return row;
  }

  async list(instanceId: string): Promise<OperationsTable[]> {
    return this.store.selectFrom('operations').selectAll().where('instance_id', '=', instanceId).orderBy('created_at', 'desc').limit(200).execute();
  }

  /** The newest operation of a kind on an instance. */
  async latest(instanceId: string, kind: string): Promise<OperationsTable | undefined> {
    return this.store
      .selectFrom('operations')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('kind', '=', kind)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** The operation once finished, or as it stands after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<OperationsTable> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const row = await this.get(id);
      const left = end - Date.now();
      if (isTerminal(row.state) || left <= 0) return row;
      await new Promise<void>((resolve) => {
        const set = this.waiters.get(id) ?? new Set();
        this.waiters.set(id, set);
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0) this.waiters.delete(id);
          resolve();
        };
        // Re-read now and then too: another controller replica may have written it.
        const timer = setTimeout(done, Math.min(left, 1_000));
        set.add(done);
      });
    }
  }

  /** Waits for an operation to end, however long its own deadline allows. */
  async finish(op: OperationsTable): Promise<OperationsTable> {
    let row = op;
    while (!isTerminal(row.state)) row = await this.wait(row.id, 60_000);
    return row;
  }

  /**
   * Starts, waits, and returns the result, or throws the operation's error with
   * its code. `requireConnected: false` queues it for an agent that is
   * reconnecting (a workflow resumed by a restarted controller) within the deadline.
   */
  async call(instanceId: string, payload: CommandPayload, timeoutMs?: number, opts: { requireConnected?: boolean } = {}): Promise<OperationResult> {
    const row = await this.start(instanceId, payload, { timeoutMs, requireConnected: opts.requireConnected });
    const limit = row.deadline_at - Date.now();
    const done = await this.wait(row.id, limit + 1_000);
    if (!isTerminal(done.state)) {
      await this.abandon(done, 'DEADLINE_EXCEEDED', `${row.kind} did not answer in time`);
      throw new StewardError('DEADLINE_EXCEEDED', `${row.kind} did not answer within ${Math.round(limit)} ms`);
    }
    if (done.state !== OperationState.SUCCEEDED) throw operationError(done);
    return this.takeResult(done);
  }

  /** The result, with a secret in it handed out once and then forgotten. */
  takeResult(row: OperationsTable): OperationResult {
    const secret = this.secretResults.get(row.id);
    if (secret) {
      this.secretResults.delete(row.id);
      return secret;
    }
    return storedResult(row);
  }

  toProto(row: OperationsTable): Operation {
    return {
      id: row.id,
      instanceId: row.instance_id,
      kind: row.kind,
      state: row.state,
      progress: row.progress,
      message: row.message,
      result: row.result ? OperationResult.decode(row.result) : undefined,
      error: row.error_code ? { code: codeNumber(codeOfName(row.error_code)), message: row.error_message ?? '' } : undefined,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      bytesDone: Number(row.bytes_done),
      bytesTotal: Number(row.bytes_total),
    };
  }

  private unfinished(instanceId: string): Promise<OperationsTable[]> {
    return this.store
      .selectFrom('operations')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('state', 'in', UNFINISHED)
      .orderBy('created_at')
      .execute();
  }

  private async move(row: OperationsTable, patch: Partial<OperationsTable>): Promise<void> {
    const updated_at = nowIso();
    const next = { ...row, ...patch, updated_at };
    const finished = isTerminal(next.state);
    const moved = await this.notifier.transaction(this.store, async (trx) => {
      // Guarded update: only an unfinished row moves, so two writers cannot both finish it (nor raise its event twice).
      const res = await trx
        .updateTable('operations')
        .set({ ...patch, updated_at })
        .where('id', '=', row.id)
        .where('state', 'in', UNFINISHED)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return false;
      for (const hook of this.hooks) {
        await hook(trx, next, finished ? 'finished' : 'progressed').catch((err: Error) => {
          throw new HookFailure(err);
        });
      }
      if (finished) await this.notifier.operation(trx, this.inClear(next), 'finished');
      return true;
    });
    if (!moved) return;
    this.waiters.get(row.id)?.forEach((w) => w());
    if (finished) {
      for (const l of this.listeners) {
        await l(next).catch((err) => this.log.error({ operationId: row.id, err: (err as Error).message }, 'operation listener failed'));
      }
    }
  }
}

/** The error a failed operation ended with, with its code. */
export function operationError(row: OperationsTable, context?: string): StewardError {
  const message = row.error_message || row.message || 'failed';
  return new StewardError(row.error_code ? codeOfName(row.error_code) : 'UNKNOWN', context ? `${context}: ${message}` : message);
}

/** The result as stored (a root password never is). */
/** An `onChange` hook threw: the report it was applied for is at fault, not the store. */
class HookFailure extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

export const storedResult = (row: OperationsTable): OperationResult => (row.result ? OperationResult.decode(row.result) : { result: undefined });
