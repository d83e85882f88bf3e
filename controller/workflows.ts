// Runs a workflow's steps one after another, persisting the step index and the
// workflow's data after each, so that a controller restart resumes at the step
// it was in (steps are idempotent through the keys they record in `data`).
// One runner serves every family of workflow (cluster changes, replica set
// switchovers and failovers); each family registers how it builds its steps,
// its step context and what happens when a workflow ends. One workflow per
// subject (a cluster, a replica set) at a time; the subject's own state says so.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../managers/sdk/logger.js';
import type { CommandPayload } from '../managers/sdk/operations/payload.js';
import { OperationState } from '../managers/sdk/operations/state.js';
import type { OperationResult } from '../proto/gen/steward/v1/common.js';
import { operationError, type OperationService } from './operations.js';
import type { Store } from './store/open.js';
import { nowIso } from './clock.js';
import { workflowStates } from './states/workflow-state.js';

export interface Step<Ctx> {
  name: string;
  run(ctx: Ctx): Promise<void>;
}

export interface WorkflowFamily<Ctx = unknown> {
  /** The steps of a workflow, rebuilt from its kind and input (also after a restart). */
  steps(subjectId: string, kind: string, input: unknown): Promise<Array<Step<Ctx>>>;
  context(subjectId: string, data: Record<string, unknown>, persist: () => Promise<void>): Promise<Ctx>;
  /** After the last step, or the failed one; `data` is what the steps recorded. */
  finished(subjectId: string, kind: string, error: Error | undefined, data: Record<string, unknown>): Promise<void>;
}

export class WorkflowRunner {
  private readonly running = new Map<string, Promise<void>>();
  private readonly families = new Map<string, WorkflowFamily<unknown>>();
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  register<Ctx>(family: string, hooks: WorkflowFamily<Ctx>): void {
    this.families.set(family, hooks as WorkflowFamily<unknown>);
  }

  async start(family: string, subjectId: string, kind: string, input: unknown): Promise<string> {
    const now = nowIso();
    const id = randomUUID();
    await this.store
      .insertInto('workflows')
      .values({
        id,
        family,
        subject_id: subjectId,
        kind,
        state: 'RUNNING',
        step_index: 0,
        step_name: '',
        data: JSON.stringify({ input }),
        error: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    this.launch(id);
    return id;
  }

  /** Picks up every workflow a previous controller process left running. */
  async resume(): Promise<void> {
    const rows = await this.store.selectFrom('workflows').select(['id', 'family']).where('state', '=', 'RUNNING').execute();
    for (const r of rows) {
      this.log.info({ workflowId: r.id, family: r.family }, 'resuming workflow');
      this.launch(r.id);
    }
  }

  /** Resolves when every running workflow has settled (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running.values()]);
  }

  stop(): void {
    this.stopped = true;
  }

  private launch(id: string): void {
    if (this.running.has(id)) return;
    const p = this.run(id).finally(() => this.running.delete(id));
    this.running.set(id, p);
  }

  private async setState(id: string, state: 'SUCCEEDED' | 'FAILED', error: string | null = null): Promise<void> {
    workflowStates.move('RUNNING', state);
    await this.store.updateTable('workflows').set({ state, error, updated_at: nowIso() }).where('id', '=', id).where('state', '=', 'RUNNING').execute();
  }

  private async run(id: string): Promise<void> {
    const wf = await this.store.selectFrom('workflows').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const hooks = this.families.get(wf.family);
    if (!hooks) {
      this.log.error({ workflowId: id, family: wf.family }, 'no handler for this workflow family: left as it is');
      return;
    }
    const data = JSON.parse(wf.data) as Record<string, unknown> & { input: unknown };
    let index = wf.step_index;
    const persist = async () => {
      await this.store
        .updateTable('workflows')
        .set({ data: JSON.stringify(data), updated_at: nowIso() })
        .where('id', '=', id)
        .execute();
    };
    const subject = { family: wf.family, subjectId: wf.subject_id, kind: wf.kind };
    try {
      const steps = await hooks.steps(wf.subject_id, wf.kind, data.input);
      const ctx = await hooks.context(wf.subject_id, data, persist);
      for (; index < steps.length; index++) {
        if (this.stopped) return; // a stopping controller leaves the workflow RUNNING for the next one
        const step = steps[index];
        await this.store.updateTable('workflows').set({ step_name: step.name, updated_at: nowIso() }).where('id', '=', id).execute();
        this.log.info({ ...subject, step: step.name }, 'workflow step');
        await step.run(ctx);
        if (this.stopped) return;
        await this.store
          .updateTable('workflows')
          .set({ step_index: index + 1, data: JSON.stringify(data), updated_at: nowIso() })
          .where('id', '=', id)
          .execute();
      }
      await this.setState(id, 'SUCCEEDED');
      await hooks.finished(wf.subject_id, wf.kind, undefined, data);
    } catch (err) {
      if (this.stopped) return;
      const message = (err as Error).message;
      this.log.error({ ...subject, step: index, err: message }, 'workflow failed');
      await this.setState(id, 'FAILED', message);
      await hooks.finished(wf.subject_id, wf.kind, err as Error, data);
    }
  }
}

/** The keys a workflow records in its data under `name` (what it started, by its own key). */
export const keyed = (data: Record<string, unknown>, name: string): Record<string, string> => (data[name] ??= {}) as Record<string, string>;

/**
 * A step's agent command, keyed: the first run starts it and records its
 * operation id before waiting; a resumed step finds the id and waits for the
 * same operation instead of starting another. Throws the operation's error
 * (with its code) when it does not succeed.
 */
export async function runKeyed(
  operations: OperationService,
  data: Record<string, unknown>,
  persist: () => Promise<void>,
  key: string,
  instanceId: string,
  command: CommandPayload,
  timeoutMs?: number,
): Promise<OperationResult> {
  const ops = keyed(data, 'ops');
  let opId = ops[key];
  if (!opId) {
    const row = await operations.start(instanceId, command, { timeoutMs, requireConnected: false });
    opId = row.id;
    ops[key] = opId;
    await persist();
  }
  const done = await operations.finish(await operations.get(opId));
  if (done.state !== OperationState.SUCCEEDED) throw operationError(done, `${done.kind} on ${instanceId} failed`);
  return operations.takeResult(done);
}
