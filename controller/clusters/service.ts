// Clusters as the controller keeps them: a row per cluster (task, sealed admin
// credentials), a row per member, and a persisted workflow per change, run by
// the datastore's strategy through a ClusterStepContext. The task moves along
// states/cluster-task.ts, and each move that starts or ends a workflow raises
// its cluster event (events.ts) in the same transaction.
import { randomUUID } from 'node:crypto';
import { CreateInstanceRequest } from '../../proto/gen/steward/v1/api.js';
import type { Cluster, CreateClusterRequest, MemberSpec as MemberSpecProto } from '../../proto/gen/steward/v1/clusters.js';
import type { RingView } from '../../proto/gen/steward/v1/common.js';
import type { ClusterStepContext, ClusterStrategy, MemberRecord, MemberSpec, MemberStateName } from '../../managers/sdk/cluster.js';
import { failedPrecondition, hasCode, invalidArgument, StewardError } from '../../managers/sdk/errors.js';
import { OperationState } from '../../managers/sdk/operations/state.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { generatePassword } from '../../managers/sdk/secrets.js';
import type { DatastoreCatalog } from '../catalog.js';
import type { InstanceService } from '../instances.js';
import type { OperationService } from '../operations.js';
import type { Notifier } from '../notifications/notifier.js';
import type { SecretBox } from '../secret-box.js';
import type { Store } from '../store/open.js';
import type { ClusterMembersTable, ClustersTable } from '../store/schema.js';
import { nowIso } from '../clock.js';
import { clusterTask, clusterTaskProto, isClusterBusy, WORKFLOW_TASKS } from '../states/cluster-task.js';
import { memberStateProto, memberStates } from '../states/member-state.js';
import { isWorkflowRunning } from '../states/workflow-state.js';
import { findVisible, tenantScope, visibleRows, ALL_TENANTS, type CallerScope } from '../tenancy.js';
import type { Caller } from '../tokens.js';
import { emitClusterEvent, type ClusterAction } from './events.js';
import { keyed, runKeyed, type WorkflowRunner } from '../workflows.js';

type WorkflowKind = 'create' | 'grow' | 'shrink';

interface WorkflowInput {
  specs?: MemberSpec[];
  instanceIds?: string[];
}

const FAMILY = 'cluster';

/** The cluster event of each workflow: grow and shrink are the page's "resize". */
const EVENT_OF: Record<WorkflowKind, ClusterAction> = { create: 'create', grow: 'resize', shrink: 'resize' };
const MAX_MEMBERS = 64;
const ADMIN_USER = 'steward_cluster_admin';

export interface ClusterDeps {
  store: Store;
  instances: InstanceService;
  operations: OperationService;
  catalog: DatastoreCatalog;
  box: SecretBox;
  notifier: Notifier;
  runner: WorkflowRunner;
  log: Logger;
}

export class ClusterService {
  constructor(private readonly d: ClusterDeps) {
    d.runner.register<ClusterStepContext>(FAMILY, {
      steps: (id, kind, input) => this.steps(id, kind as WorkflowKind, input as WorkflowInput),
      context: (id, data, persist) => this.context(id, data, persist),
      finished: (id, kind, error) => this.finished(id, kind as WorkflowKind, error),
    });
  }

  async create(caller: Caller, req: CreateClusterRequest): Promise<ClustersTable> {
    const name = req.name.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/.test(name)) {
      throw invalidArgument('name', 'must be 1-48 letters, digits, "_" or "-", starting with a letter or digit');
    }
    const strategy = this.strategyOf(req.datastore);
    if (req.members.length === 0) throw invalidArgument('members', 'name at least one member');
    const specs = req.members.map((m, i) => normalizeSpec(m, `members[${i}]`));
    strategy.validateCreate(specs);
    const id = randomUUID();
    const now = nowIso();
    const row: ClustersTable = {
      id,
      tenant_id: caller.tenantId,
      name,
      datastore: req.datastore,
      task: 'BUILDING',
      task_message: '',
      admin_secret: this.d.box.seal(generatePassword(), id),
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await this.d.notifier.transaction(this.d.store, async (trx) => {
      await trx.insertInto('clusters').values(row).execute();
      await emitClusterEvent(this.d.notifier, trx, 'create', 'start', id);
    });
    await this.d.runner.start(FAMILY, id, 'create', { specs });
    return row;
  }

  async grow(scope: CallerScope, id: string, members: MemberSpecProto[]): Promise<ClustersTable> {
    const row = await this.get(scope, id);
    if (members.length === 0) throw invalidArgument('members', 'name at least one member');
    const specs = members.map((m, i) => normalizeSpec(m, `members[${i}]`));
    const current = await this.memberRows(id);
    if (current.length + specs.length > MAX_MEMBERS) throw invalidArgument('members', `a cluster has at most ${MAX_MEMBERS} members`);
    await this.begin(id, 'grow');
    await this.d.runner.start(FAMILY, id, 'grow', { specs });
    return { ...row, task: 'GROWING' };
  }

  async shrink(scope: CallerScope, id: string, instanceIds: string[]): Promise<ClustersTable> {
    const row = await this.get(scope, id);
    if (row.task !== 'NONE') throw failedPrecondition(`cluster ${id} is ${row.task}${row.task_message ? `: ${row.task_message}` : ''}`);
    if (instanceIds.length === 0) throw invalidArgument('instance_ids', 'name at least one member');
    const members = (await this.memberRows(id)).map(toRecord);
    instanceIds.forEach((iid, i) => {
      if (!members.some((m) => m.instanceId === iid)) throw invalidArgument(`instance_ids[${i}]`, `${iid.slice(0, 64)} is not a member of cluster ${id}`);
    });
    if (new Set(instanceIds).size !== instanceIds.length) throw invalidArgument('instance_ids', 'names a member twice');
    this.strategyOf(row.datastore).validateShrink(members, instanceIds);
    await this.begin(id, 'shrink');
    await this.d.runner.start(FAMILY, id, 'shrink', { instanceIds });
    return { ...row, task: 'SHRINKING' };
  }

  async delete(scope: CallerScope, id: string): Promise<ClustersTable> {
    const row = await this.get(scope, id);
    if (isClusterBusy(row.task)) throw failedPrecondition(`cluster ${id} is ${row.task}; wait for it to finish`);
    if (row.task !== 'DELETING') {
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        await clusterTask.begin(trx, id, 'DELETING');
        await emitClusterEvent(this.d.notifier, trx, 'delete', 'start', id);
      });
    }
    void this.runDelete(id);
    return { ...row, task: 'DELETING' };
  }

  get(scope: CallerScope, id: string): Promise<ClustersTable> {
    return findVisible(this.d.store, 'clusters', id, scope, 'cluster');
  }

  list(scope: CallerScope): Promise<ClustersTable[]> {
    return visibleRows(this.d.store, 'clusters', scope).orderBy('created_at').execute();
  }

  async ring(scope: CallerScope, id: string): Promise<RingView> {
    const row = await this.get(scope, id);
    const members = (await this.memberRows(id)).map(toRecord);
    const ctx = await this.context(id, {}, async () => undefined);
    return this.strategyOf(row.datastore).ring({
      members: () => members,
      run: (_key, instanceId, cmd, t) => ctx.run(`ring-${randomUUID()}`, instanceId, cmd, t),
    });
  }

  /** Deletions a previous controller left half done (workflows resume through the runner). */
  async resume(): Promise<void> {
    const deleting = await this.d.store.selectFrom('clusters').select('id').where('task', '=', 'DELETING').where('deleted_at', 'is', null).execute();
    for (const c of deleting) void this.runDelete(c.id);
  }

  async toProto(row: ClustersTable): Promise<Cluster> {
    const members = await this.memberRows(row.id);
    const wf = await this.d.store
      .selectFrom('workflows')
      .select(['step_name', 'state'])
      .where('family', '=', FAMILY)
      .where('subject_id', '=', row.id)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    return {
      id: row.id,
      name: row.name,
      datastore: row.datastore,
      task: clusterTaskProto(row.task),
      taskMessage: row.task_message,
      members: members.map((m) => ({
        instanceId: m.instance_id,
        name: m.name,
        dataCenter: m.data_center,
        rack: m.rack,
        seed: m.seed === 1,
        state: memberStateProto(m.state),
        host: m.host,
        port: m.port,
      })),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      workflowStep: wf && isWorkflowRunning(wf.state) ? wf.step_name : '',
    };
  }

  // ---- workflow plumbing ---------------------------------------------------

  private strategyOf(datastore: string): ClusterStrategy {
    const m = this.d.catalog.get(datastore);
    if (!m.capabilities.includes('cluster') || !m.clusterStrategy) {
      throw failedPrecondition(`datastore ${m.displayName} (${m.name}) does not support clusters`);
    }
    return m.clusterStrategy;
  }

  /** A grow or shrink begins: its task and its `.start` in one transaction (refused unless the cluster is idle). */
  private async begin(id: string, kind: WorkflowKind): Promise<void> {
    await this.d.notifier.transaction(this.d.store, async (trx) => {
      await clusterTask.begin(trx, id, WORKFLOW_TASKS[kind].running);
      await emitClusterEvent(this.d.notifier, trx, EVENT_OF[kind], 'start', id);
    });
  }

  private async steps(id: string, kind: WorkflowKind, input: WorkflowInput) {
    const row = await this.d.store.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const s = this.strategyOf(row.datastore);
    if (kind === 'create') return s.create(input.specs ?? []);
    if (kind === 'grow') return s.grow(input.specs ?? []);
    return s.shrink(input.instanceIds ?? []);
  }

  private async finished(id: string, kind: WorkflowKind, error?: Error): Promise<void> {
    await this.d.notifier.transaction(this.d.store, async (trx) => {
      await clusterTask.move(trx, id, error ? WORKFLOW_TASKS[kind].failed : 'NONE', error?.message ?? '');
      await emitClusterEvent(this.d.notifier, trx, EVENT_OF[kind], error ? 'error' : 'end', id, error?.message);
    });
  }

  private async context(clusterId: string, data: Record<string, unknown>, persist: () => Promise<void>): Promise<ClusterStepContext> {
    const cluster = await this.d.store.selectFrom('clusters').selectAll().where('id', '=', clusterId).executeTakeFirstOrThrow();
    const admin = { user: ADMIN_USER, password: this.d.box.open(cluster.admin_secret, clusterId) };
    let members = (await this.memberRows(clusterId)).map(toRecord);
    const refresh = async () => {
      members = (await this.memberRows(clusterId)).map(toRecord);
    };

    const ctx: ClusterStepContext = {
      clusterId,
      clusterName: cluster.name,
      admin,
      data,
      members: () => members,
      addMember: async (key, spec, membership) => {
        const created = keyed(data, 'members');
        let instanceId = created[key];
        if (!instanceId) {
          const ordinal = Object.keys(created).length + 1;
          const { instance } = await this.d.instances.create(
            { tenantId: cluster.tenant_id, scope: tenantScope(cluster.tenant_id) },
            CreateInstanceRequest.fromPartial({ name: `${cluster.name}-${ordinal}`, datastore: cluster.datastore, memoryMb: spec.memoryMb }),
            { clusterId, membership: { ...membership, clusterId, clusterName: cluster.name, adminUser: admin.user, adminPassword: admin.password } },
          );
          instanceId = instance.id;
          created[key] = instanceId;
          await persist();
          await this.d.store
            .insertInto('cluster_members')
            .values({
              cluster_id: clusterId,
              instance_id: instanceId,
              name: instance.name,
              data_center: spec.dataCenter,
              rack: spec.rack,
              seed: 0,
              state: 'building',
              host: instance.host,
              port: instance.port,
              ordinal,
            })
            .execute();
          await refresh();
        }
        const prepare = await this.d.operations.latest(instanceId, 'prepare');
        if (!prepare) throw new StewardError('INTERNAL', `no prepare operation for member ${instanceId}`);
        const done = await this.d.operations.finish(prepare);
        if (done.state !== OperationState.SUCCEEDED) {
          await this.updateMember(instanceId, { state: 'error' });
          throw new StewardError('INTERNAL', `member ${instanceId} failed to prepare: ${done.error_message ?? done.message}`);
        }
        await this.updateMember(instanceId, { state: 'active' });
        await refresh();
        return members.find((m) => m.instanceId === instanceId)!;
      },
      run: (key, instanceId, command, timeoutMs) => runKeyed(this.d.operations, data, persist, key, instanceId, command, timeoutMs),
      updateMember: async (instanceId, patch) => {
        await this.updateMember(instanceId, patch);
        await refresh();
      },
      removeMember: async (instanceId) => {
        await this.d.instances.delete(ALL_TENANTS, instanceId).catch((err) => {
          if (!hasCode(err, 'NOT_FOUND')) throw err;
        });
        await this.waitGone(instanceId);
        await this.d.store.deleteFrom('cluster_members').where('instance_id', '=', instanceId).execute();
        await refresh();
      },
      say: async (message) => {
        await this.d.store
          .updateTable('workflows')
          .set({ step_name: message, updated_at: nowIso() })
          .where('family', '=', FAMILY)
          .where('subject_id', '=', clusterId)
          .where('state', '=', 'RUNNING')
          .execute();
      },
    };
    return ctx;
  }

  /** A member's seed flag and state; the state moves only along states/member-state.ts (staying put is a no-op). */
  private async updateMember(instanceId: string, patch: Partial<Pick<MemberRecord, 'seed' | 'state'>>): Promise<void> {
    const set: Partial<ClusterMembersTable> = {};
    if (patch.seed !== undefined) set.seed = patch.seed ? 1 : 0;
    if (patch.state !== undefined) {
      const row = await this.d.store.selectFrom('cluster_members').select('state').where('instance_id', '=', instanceId).executeTakeFirst();
      const from = row?.state as MemberStateName | undefined;
      if (from && from !== patch.state) set.state = memberStates.move(from, patch.state);
    }
    if (Object.keys(set).length) await this.d.store.updateTable('cluster_members').set(set).where('instance_id', '=', instanceId).execute();
  }

  private async waitGone(instanceId: string): Promise<void> {
    for (;;) {
      const row = await this.d.store.selectFrom('instances').select(['deleted_at', 'task', 'task_message']).where('id', '=', instanceId).executeTakeFirst();
      if (!row || row.deleted_at) return;
      if (row.task === 'DELETING_ERROR') throw new StewardError('INTERNAL', `member ${instanceId} could not be deleted: ${row.task_message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async runDelete(id: string): Promise<void> {
    try {
      for (const m of await this.memberRows(id)) {
        await this.d.instances.delete(ALL_TENANTS, m.instance_id).catch((err) => {
          if (!hasCode(err, 'NOT_FOUND')) throw err;
        });
      }
      for (const m of await this.memberRows(id)) await this.waitGone(m.instance_id);
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        // The payload still lists the members that were deleted with the cluster.
        await emitClusterEvent(this.d.notifier, trx, 'delete', 'end', id);
        await trx.deleteFrom('cluster_members').where('cluster_id', '=', id).execute();
        await trx.updateTable('clusters').set({ deleted_at: nowIso(), updated_at: nowIso() }).where('id', '=', id).execute();
      });
      this.d.log.info({ clusterId: id }, 'cluster deleted');
    } catch (err) {
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        await clusterTask.move(trx, id, 'DELETING_ERROR', (err as Error).message);
        await emitClusterEvent(this.d.notifier, trx, 'delete', 'error', id, (err as Error).message);
      });
    }
  }

  private memberRows(clusterId: string): Promise<ClusterMembersTable[]> {
    return this.d.store.selectFrom('cluster_members').selectAll().where('cluster_id', '=', clusterId).orderBy('ordinal').execute();
  }
}

function normalizeSpec(m: MemberSpecProto, field: string): MemberSpec {
  const dc = m.dataCenter || 'dc1';
  const rack = m.rack || 'rack1';
  const name = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
  if (!name.test(dc)) throw invalidArgument(`${field}.data_center`, 'must be 1-32 letters, digits, "_" or "-"');
  if (!name.test(rack)) throw invalidArgument(`${field}.rack`, 'must be 1-32 letters, digits, "_" or "-"');
  const memoryMb = m.memoryMb || 1024;
  if (memoryMb < 256 || memoryMb > 1_048_576) throw invalidArgument(`${field}.memory_mb`, 'must be between 256 and 1048576');
  return { memoryMb, dataCenter: dc, rack };
}

function toRecord(m: ClusterMembersTable): MemberRecord {
  return {
    instanceId: m.instance_id,
    name: m.name,
    dataCenter: m.data_center,
    rack: m.rack,
    seed: m.seed === 1,
    state: m.state as MemberStateName,
    host: m.host,
    port: m.port,
  };
}
