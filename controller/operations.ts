// Persisted operations: created PENDING, sent to the agent as a Command with the
// same id, moved along by the agent's OperationUpdates. Non-terminal operations
// are re-sent whenever their agent reconnects (the agent's journal makes that
// safe), and swept to FAILED when their deadline passes or their agent is lost.
// The two moments that matter to notifications happen here and nowhere else:
// an operation accepted (`.start`) and its outcome recorded (`.end`/`.error`),
// each written to the outbox in the same transaction as the row.
import { randomUUID } from 'node:crypto';
import { Command, type OperationUpdate } from '../proto/gen/steward/v1/agent.js';
import { OperationResult, OperationState, type Operation } from '../proto/gen/steward/v1/common.js';
import { StewardError, notFound, unavailable } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import type { AgentRegistry } from './agent-registry.js';
import type { Store } from './store/open.js';
import type { OperationsTable } from './store/schema.js';
import { nowIso } from './clock.js';
import type { Notifier } from './notifications/notifier.js';
import type { CommandCodec } from './command-codec.js';

export type CommandPayload = Omit<Command, 'operationId' | 'deadlineUnixMs'>;
export const TERMINAL = new Set([OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED]);
export type FinishedListener = (op: OperationsTable) => Promise<void>;
/** Runs inside the transaction that records an outcome, before its event is written (so the event sees its effects). */
export type FinishingHook = (trx: Store, op: OperationsTable) => Promise<void>;

export const DEFAULT_TIMEOUTS: Record<string, number> = {
  prepare: 15 * 60_000,
  restart: 5 * 60_000,
  destroy: 2 * 60_000,
  default: 2 * 60_000,
  read: 30_000,
};

export class OperationService {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly listeners: FinishedListener[] = [];
  private readonly finishing: FinishingHook[] = [];
  /** Results that carry a secret (a root password) live here only, until the caller reads them once. */
  private readonly secretResults = new Map<string, OperationResult>();

  constructor(
    private readonly store: Store,
    private readonly agents: AgentRegistry,
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

  /** Called inside the outcome's transaction: state that must change together with it (an instance's task). */
  onFinishing(hook: FinishingHook): void {
    this.finishing.push(hook);
  }

  /**
   * Records an operation and sends it. With `requireConnected`, refuses with
   * UNAVAILABLE (and records nothing) when the agent is not connected; without
   * it the operation waits PENDING for the agent's next connection.
   * `inTransaction` changes other state in the same transaction, before the
   * `.start` event is written (so the event reports it).
   */
  async start(
    instanceId: string,
    kind: string,
    payload: CommandPayload,
    opts: { timeoutMs?: number; requireConnected?: boolean; inTransaction?: (trx: Store) => Promise<void> } = {},
  ): Promise<OperationsTable> {
    if ((opts.requireConnected ?? true) && !this.agents.isConnected(instanceId)) {
      throw unavailable(`the agent of instance ${instanceId} is not connected`);
    }
    const id = randomUUID();
    const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUTS[kind] ?? DEFAULT_TIMEOUTS.default);
    const command: Command = { ...emptyCommand(), ...payload, operationId: id, deadlineUnixMs: deadline };
    const now = nowIso();
    const row: OperationsTable = {
      id,
      instance_id: instanceId,
      kind,
      state: OperationState.PENDING,
      progress: 0,
      message: 'queued',
      command: this.commands.seal(command),
      result: null,
      error_code: null,
      error_message: null,
      deadline_at: deadline,
      created_at: now,
      updated_at: now,
    };
    await this.notifier.transaction(this.store, async (trx) => {
      await trx.insertInto('operations').values(row).execute();
      await opts.inTransaction?.(trx);
      await this.notifier.operation(trx, this.inClear(row), 'accepted');
    });
    this.agents.send(instanceId, { command });
    return row;
  }

  /** Re-sends every unfinished operation of an instance, oldest first (after a reconnect). */
  async redeliver(instanceId: string): Promise<number> {
    const rows = await this.store
      .selectFrom('operations')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('state', 'in', [OperationState.PENDING, OperationState.RUNNING])
      .orderBy('created_at')
      .execute();
    for (const r of rows) {
      const command = this.commandOf(r);
      if (command) this.agents.send(instanceId, { command });
    }
    return rows.length;
  }

  /**
   * Applies an agent's update. The operation must belong to the reporting
   * instance; updates to finished operations are ignored (the first outcome wins).
   */
  async applyUpdate(instanceId: string, u: OperationUpdate): Promise<void> {
    const row = await this.get(u.operationId).catch(() => undefined);
    if (!row || row.instance_id !== instanceId) {
      this.log.warn({ instanceId, operationId: u.operationId }, 'update for an operation this agent does not own: ignored');
      return;
    }
    if (TERMINAL.has(row.state)) return;
    if (u.result?.root?.password) {
      this.secretResults.set(row.id, u.result);
      setTimeout(() => this.secretResults.delete(row.id), 5 * 60_000).unref();
    }
    const stored = u.result?.root ? { ...u.result, root: { ...u.result.root, password: '' } } : u.result;
    await this.finishOrProgress(row, {
      state: u.state,
      progress: u.progress,
      message: u.message,
      result: stored ? Buffer.from(OperationResult.encode(stored).finish()) : null,
      error_code: u.error?.code ?? null,
      error_message: u.error?.message ?? null,
    });
  }

  /** Fails an unfinished operation from the controller's side (deadline, lost agent, deletion). */
  async abandon(row: OperationsTable, code: string, message: string, state = OperationState.FAILED): Promise<void> {
    await this.finishOrProgress(row, { state, message, error_code: code, error_message: message });
    if (this.agents.isConnected(row.instance_id)) this.agents.send(row.instance_id, { cancel: { operationId: row.id } });
  }

  async failUnfinished(instanceId: string, code: string, message: string, state = OperationState.FAILED): Promise<void> {
    const rows = await this.store
      .selectFrom('operations')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('state', 'in', [OperationState.PENDING, OperationState.RUNNING])
      .execute();
    for (const r of rows) await this.abandon(r, code, message, state);
  }

  async sweepDeadlines(now = Date.now()): Promise<void> {
    const rows = await this.store
      .selectFrom('operations')
      .selectAll()
      .where('state', 'in', [OperationState.PENDING, OperationState.RUNNING])
      .where('deadline_at', '<', now)
      .execute();
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

  /** The operation once finished, or as it stands after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<OperationsTable> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const row = await this.get(id);
      const left = end - Date.now();
      if (TERMINAL.has(row.state) || left <= 0) return row;
      await new Promise<void>((resolve) => {
        const set = this.waiters.get(id) ?? new Set();
        this.waiters.set(id, set);
        const done = () => {
          clearTimeout(timer);
          set.delete(done);
          resolve();
        };
        // Re-read now and then too: another controller replica may have written it.
        const timer = setTimeout(done, Math.min(left, 1_000));
        set.add(done);
      });
    }
  }

  /** Starts, waits, and returns the result, or throws the operation's error as a gRPC-mappable error. */
  async call(instanceId: string, kind: string, payload: CommandPayload, timeoutMs = DEFAULT_TIMEOUTS.read): Promise<OperationResult> {
    const row = await this.start(instanceId, kind, payload, { timeoutMs });
    const done = await this.wait(row.id, timeoutMs + 1_000);
    if (!TERMINAL.has(done.state)) {
      await this.abandon(done, 'DEADLINE_EXCEEDED', `${kind} did not answer in time`);
      throw new StewardError('DEADLINE_EXCEEDED', `${kind} did not answer within ${timeoutMs} ms`);
    }
    if (done.state !== OperationState.SUCCEEDED) {
      throw new StewardError((done.error_code ?? 'INTERNAL') as never, done.error_message ?? done.message);
    }
    return this.takeResult(done);
  }

  /** The result, with a secret in it handed out once and then forgotten. */
  takeResult(row: OperationsTable): OperationResult {
    const secret = this.secretResults.get(row.id);
    if (secret) {
      this.secretResults.delete(row.id);
      return secret;
    }
    return row.result ? OperationResult.decode(row.result) : {};
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
      error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : undefined,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private async finishOrProgress(row: OperationsTable, patch: Partial<OperationsTable>): Promise<void> {
    const updated_at = nowIso();
    const next = { ...row, ...patch, updated_at };
    const finished = TERMINAL.has(next.state);
    const moved = await this.notifier.transaction(this.store, async (trx) => {
      // Guarded update: only an unfinished row moves, so two writers cannot both finish it (nor raise its event twice).
      const res = await trx
        .updateTable('operations')
        .set({ ...patch, updated_at })
        .where('id', '=', row.id)
        .where('state', 'in', [OperationState.PENDING, OperationState.RUNNING])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return false;
      if (finished) {
        for (const hook of this.finishing) await hook(trx, next);
        await this.notifier.operation(trx, this.inClear(next), 'finished');
      }
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

function emptyCommand(): Command {
  return Command.fromPartial({});
}
