// Runs a cluster strategy's steps one after another, persisting the step index
// and the workflow's data after each, so that a controller restart resumes at
// the step it was in (steps are idempotent through their keys). One workflow
// per cluster at a time.
import { randomUUID } from 'node:crypto';
import type { ClusterStep, ClusterStepContext, MemberSpec } from '../../managers/sdk/cluster.js';
import type { Logger } from '../../managers/sdk/logger.js';
import type { Store } from '../store/open.js';
import { nowIso } from '../clock.js';

export type WorkflowKind = 'create' | 'grow' | 'shrink';

export interface WorkflowInput {
  specs?: MemberSpec[];
  instanceIds?: string[];
}

export interface WorkflowHooks {
  /** The steps of a workflow, rebuilt from its kind and input (also after a restart). */
  steps(clusterId: string, kind: WorkflowKind, input: WorkflowInput): Promise<ClusterStep[]>;
  context(clusterId: string, data: Record<string, unknown>, persist: () => Promise<void>): Promise<ClusterStepContext>;
  finished(clusterId: string, kind: WorkflowKind, error?: Error): Promise<void>;
}

export class WorkflowRunner {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly hooks: WorkflowHooks,
    private readonly log: Logger,
  ) {}

  async start(clusterId: string, kind: WorkflowKind, input: WorkflowInput): Promise<void> {
    const now = nowIso();
    const id = randomUUID();
    await this.store
      .insertInto('workflows')
      .values({
        id,
        cluster_id: clusterId,
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
  }

  /** Picks up every workflow a previous controller process left running. */
  async resume(): Promise<void> {
    const rows = await this.store.selectFrom('workflows').select('id').where('state', '=', 'RUNNING').execute();
    for (const r of rows) {
      this.log.info({ workflowId: r.id }, 'resuming cluster workflow');
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

  private stopped = false;

  private launch(id: string): void {
    if (this.running.has(id)) return;
    const p = this.run(id).finally(() => this.running.delete(id));
    this.running.set(id, p);
  }

  private async run(id: string): Promise<void> {
    const wf = await this.store.selectFrom('workflows').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const data = JSON.parse(wf.data) as Record<string, unknown> & { input: WorkflowInput };
    const kind = wf.kind as WorkflowKind;
    let index = wf.step_index;
    const persist = async () => {
      await this.store
        .updateTable('workflows')
        .set({ data: JSON.stringify(data), updated_at: nowIso() })
        .where('id', '=', id)
        .execute();
    };
    try {
      const steps = await this.hooks.steps(wf.cluster_id, kind, data.input);
      const ctx = await this.hooks.context(wf.cluster_id, data, persist);
      for (; index < steps.length; index++) {
        if (this.stopped) return; // a stopping controller leaves the workflow RUNNING for the next one
        const step = steps[index];
        await this.store.updateTable('workflows').set({ step_name: step.name, updated_at: nowIso() }).where('id', '=', id).execute();
        this.log.info({ clusterId: wf.cluster_id, kind, step: step.name }, 'cluster workflow step');
        await step.run(ctx);
        if (this.stopped) return;
        await this.store
          .updateTable('workflows')
          .set({ step_index: index + 1, data: JSON.stringify(data), updated_at: nowIso() })
          .where('id', '=', id)
          .execute();
      }
      await this.store.updateTable('workflows').set({ state: 'SUCCEEDED', updated_at: nowIso() }).where('id', '=', id).execute();
      await this.hooks.finished(wf.cluster_id, kind);
    } catch (err) {
      if (this.stopped) return;
      const message = (err as Error).message;
      this.log.error({ clusterId: wf.cluster_id, kind, step: index, err: message }, 'cluster workflow failed');
      await this.store.updateTable('workflows').set({ state: 'FAILED', error: message, updated_at: nowIso() }).where('id', '=', id).execute();
      await this.hooks.finished(wf.cluster_id, kind, err as Error);
    }
  }
}
