// Replica sets as the controller keeps them (docs/replication.md): a row per
// set (its primary, its term, its options, the sealed replication account) and
// each member instance pointing at it (`replica_set_id`, `replica_of`). Every
// change of topology is a persisted workflow (workflows.ts): adding replicas,
// switchover, failover, rejoin; the detector (detector.ts) starts failovers
// and rejoins. The term only ever grows, inside the workflow that promotes.
import { randomUUID } from 'node:crypto';
import type { CreateInstanceRequest, Instance } from '../../proto/gen/steward/v1/api.js';
import {
  FailoverMode,
  ReplicationRole,
  type ReplicaInfo,
  type ReplicaSet,
  type ReplicationCredentials,
  type UpdateReplicaSetRequest,
} from '../../proto/gen/steward/v1/replication.js';
import { failedPrecondition, invalidArgument, notFound } from '../../managers/sdk/errors.js';
import type { Logger } from '../../managers/sdk/logger.js';
import type { ReplicationStrategy } from '../../managers/sdk/replication.js';
import { generatePassword } from '../../managers/sdk/secrets.js';
import { seriesOf } from '../../managers/sdk/backup/strategy.js';
import type { AgentRegistry } from '../agent-registry.js';
import type { BackupService } from '../backups/service.js';
import type { DatastoreCatalog } from '../catalog.js';
import { nowIso } from '../clock.js';
import type { Creator, InstanceService } from '../instances.js';
import type { Notifier } from '../notifications/notifier.js';
import type { OperationService } from '../operations.js';
import type { SecretBox } from '../secret-box.js';
import { instanceTask, isIdle, type InstanceTaskName } from '../states/instance-task.js';
import type { Store } from '../store/open.js';
import type { InstancesTable, ReplicaSetsTable } from '../store/schema.js';
import { findVisible, type CallerScope } from '../tenancy.js';
import type { WorkflowRunner } from '../workflows.js';
import { decodeReplication, memberReport } from './report.js';
import { isSettled, replicaSetTask, replicaSetTaskProto, WORKFLOW_TASKS, type ReplicaSetWorkflow } from './states.js';
import { emitPromotionEvent } from './events.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { registerReplicaSetWorkflows } from './workflows.js';

export const FAMILY = 'replica_set';
export const REPLICATION_USER = 'steward_repl';
const MAX_REPLICAS_PER_REQUEST = 8;
/** How long a switchover's check waits for the primary's and the candidate's positions. */
const STATUS_TIMEOUT_MS = 5_000;

export interface ReplicationSettings {
  /** How long a switchover waits for the candidate to catch up before rolling back. */
  catchUpTimeoutMs: number;
  /** A primary whose server answers nothing for this long (its agent alive) is failed over. */
  unresponsiveMs: number;
  /** Added to an agent's write lease before a lost primary is failed over (clock rates differ). */
  leaseMarginMs: number;
}

export interface ReplicationDeps {
  store: Store;
  instances: InstanceService;
  operations: OperationService;
  backups: BackupService;
  catalog: DatastoreCatalog;
  agents: AgentRegistry;
  box: SecretBox;
  notifier: Notifier;
  runner: WorkflowRunner;
  missedHeartbeats: number;
  settings: ReplicationSettings;
  log: Logger;
}

/** The name a replica has at its source (a PostgreSQL slot): lower-case letters, digits, "_". */
export const replicaName = (instanceId: string): string => `r_${instanceId.replaceAll('-', '')}`;

export class ReplicationService {
  constructor(readonly d: ReplicationDeps) {
    registerReplicaSetWorkflows(this);
  }

  strategyOf(datastore: string): ReplicationStrategy {
    const m = this.d.catalog.get(datastore);
    if (!m.capabilities.includes('replication') || !m.replication) throw failedPrecondition(`datastore ${m.displayName} does not support replication`);
    return m.replication;
  }

  credentials(set: ReplicaSetsTable): ReplicationCredentials {
    return JSON.parse(this.d.box.open(set.credentials, `replica-set:${set.id}`)) as ReplicationCredentials;
  }

  async set(id: string): Promise<ReplicaSetsTable> {
    const row = await this.d.store.selectFrom('replica_sets').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    if (!row) throw notFound(`replica set ${id} not found`);
    return row;
  }

  /** The caller's replica set (NOT_FOUND for another tenant's, as for a missing one). */
  async get(scope: CallerScope, id: string): Promise<ReplicaSetsTable> {
    const row = await this.set(id).catch(() => undefined);
    if (!row) throw notFound(`replica set ${id.slice(0, 64)} not found`);
    // Visible exactly when its primary is.
    await findVisible(this.d.store, 'instances', row.primary_id, scope, 'instance').catch(() => {
      throw notFound(`replica set ${id.slice(0, 64)} not found`);
    });
    return row;
  }

  /** The live members of a set, primary first. */
  async members(setId: string): Promise<InstancesTable[]> {
    const rows = await this.d.store
      .selectFrom('instances')
      .selectAll()
      .where('replica_set_id', '=', setId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .execute();
    return rows.sort((a, b) => Number(!!a.replica_of) - Number(!!b.replica_of));
  }

  // ---- creating replicas ----------------------------------------------------------------------------

  /**
   * `instance create --replica-of`: checks everything first, then makes the set
   * (the source's first replicas), provisions the replicas and starts the
   * workflow that seeds them from a fresh backup of the source.
   */
  async createReplicas(creator: Creator, req: CreateInstanceRequest): Promise<Array<{ instance: InstancesTable; enrollmentToken: string }>> {
    const source = await this.d.instances.get(creator.scope, req.replicaOf);
    if (!isIdle(source.task)) throw failedPrecondition(`instance ${source.id} is ${source.task}: replicas are made of an instance that is idle`);
    if (req.datastore && req.datastore !== source.datastore) {
      throw failedPrecondition(`a replica of ${source.id} is a ${source.datastore} instance, not ${req.datastore.slice(0, 64)}`);
    }
    const strategy = this.strategyOf(source.datastore);
    if (req.datastoreVersion) {
      const have = (await this.reportedVersion(source)) || source.datastore_version;
      if (have && seriesOf(req.datastoreVersion, source.datastore) !== seriesOf(have, source.datastore)) {
        throw failedPrecondition(
          `a replica runs the version series of its source (${seriesOf(have, source.datastore)}), not ${req.datastoreVersion.slice(0, 32)}`,
        );
      }
    }
    if (req.backupId) throw invalidArgument('backup_id', 'a replica is built from a fresh backup of its source; it cannot take another');
    if (req.databases.length) throw invalidArgument('databases', "a replica has its source's databases; create them on the primary");
    if (req.users.length) throw invalidArgument('users', "a replica has its source's users; create them on the primary");
    const count = req.replicaCount || 1;
    if (count > MAX_REPLICAS_PER_REQUEST) throw invalidArgument('replica_count', `must be 1 to ${MAX_REPLICAS_PER_REQUEST}`);
    if (source.replica_of && !strategy.cascading) throw failedPrecondition(`${source.datastore} replicas cannot have replicas of their own (cascading)`);
    if (req.synchronous && !strategy.synchronous) throw failedPrecondition(`datastore ${source.datastore} has no synchronous replication`);

    const set = source.replica_set_id ? await this.set(source.replica_set_id) : await this.createSet(source, req, strategy);
    if (!isSettled(set.task)) throw failedPrecondition(`replica set ${set.id} is ${set.task}: wait for it to finish`);
    await replicaSetTask.begin(this.d.store, set.id, WORKFLOW_TASKS.add_replicas.running);

    const made: Array<{ instance: InstancesTable; enrollmentToken: string }> = [];
    try {
      for (let n = 1; n <= count; n++) {
        const name = req.name.trim() ? (count > 1 ? `${req.name.trim()}-${n}` : req.name) : `${source.name}-replica`;
        const { instance, enrollmentToken } = await this.d.instances.create(
          creator,
          // A replica holds its source's data: its memory too, unless asked otherwise.
          {
            ...req,
            name,
            datastore: source.datastore,
            datastoreVersion: source.datastore_version,
            memoryMb: req.memoryMb || source.memory_mb,
            replicaOf: '',
            replicaCount: 0,
          },
          undefined,
          { setId: set.id, sourceId: source.id },
        );
        made.push({ instance, enrollmentToken });
      }
    } catch (err) {
      await replicaSetTask.move(this.d.store, set.id, WORKFLOW_TASKS.add_replicas.failed, (err as Error).message);
      throw err;
    }
    await this.d.runner.start(FAMILY, set.id, 'add_replicas', { sourceId: source.id, replicaIds: made.map((m) => m.instance.id) });
    return made;
  }

  private async reportedVersion(inst: InstancesTable): Promise<string> {
    const agent = await this.d.store.selectFrom('agents').select('datastore_version').where('instance_id', '=', inst.id).executeTakeFirst();
    return agent?.datastore_version ?? '';
  }

  private async createSet(primary: InstancesTable, req: CreateInstanceRequest, strategy: ReplicationStrategy): Promise<ReplicaSetsTable> {
    const id = randomUUID();
    const now = nowIso();
    const creds: ReplicationCredentials = { user: REPLICATION_USER, password: generatePassword(32) };
    const row: ReplicaSetsTable = {
      id,
      tenant_id: primary.tenant_id,
      datastore: primary.datastore,
      primary_id: primary.id,
      term: 1,
      synchronous: req.synchronous ? 1 : 0,
      failover: req.failover === FailoverMode.MANUAL ? 'manual' : 'auto',
      max_lag: req.maxLag || strategy.defaultMaxLag,
      credentials: this.d.box.seal(JSON.stringify(creds), `replica-set:${id}`),
      promoted_at: '',
      rejoin_pending: '[]',
      task: 'NONE',
      task_message: '',
      status_message: '',
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await this.d.store.transaction().execute(async (trx) => {
      await trx.insertInto('replica_sets').values(row).execute();
      // Guarded: the source joins exactly one set.
      const res = await trx
        .updateTable('instances')
        .set({ replica_set_id: id })
        .where('id', '=', primary.id)
        .where('replica_set_id', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw failedPrecondition(`instance ${primary.id} joined another replica set meanwhile`);
    });
    this.d.log.info({ replicaSetId: id, primaryId: primary.id }, 'replica set created');
    return row;
  }

  // ---- switchover, failover, detach, options -------------------------------------------------------

  /**
   * Starts a workflow on a settled set (refused while another runs): the set's
   * task, the members' tasks and the `.start` event in one transaction.
   */
  async startWorkflow(
    set: ReplicaSetsTable,
    kind: ReplicaSetWorkflow,
    input: Record<string, unknown>,
    tasks: Array<[string, InstanceTaskName]> = [],
  ): Promise<ReplicaSetsTable> {
    if (!isSettled(set.task)) throw failedPrecondition(`replica set ${set.id} is ${set.task}: wait for it to finish`);
    await this.d.notifier.transaction(this.d.store, async (trx) => {
      await replicaSetTask.begin(trx, set.id, WORKFLOW_TASKS[kind].running);
      for (const [id, task] of tasks) await instanceTask.begin(trx, id, task);
      if (kind === 'switchover' || kind === 'failover') {
        const subject = String(input.candidateId ?? set.primary_id);
        await emitPromotionEvent(this.d.notifier, trx, {
          action: kind === 'switchover' ? 'promote' : 'failover',
          phase: 'start',
          setId: set.id,
          oldPrimaryId: set.primary_id,
          newPrimaryId: subject,
          term: Number(set.term),
        });
      }
    });
    await this.d.runner.start(FAMILY, set.id, kind, input);
    return this.set(set.id);
  }

  /** Switchover to this replica (Trove's promote_to_replica_source): refused before anything changes when it cannot be done now. */
  async promote(scope: CallerScope, instanceId: string): Promise<ReplicaSetsTable> {
    const inst = await this.d.instances.get(scope, instanceId);
    const set = await this.setOfReplica(inst);
    if (!isIdle(inst.task)) throw failedPrecondition(`instance ${inst.id} is ${inst.task}`);
    if (!isSettled(set.task)) throw failedPrecondition(`replica set ${set.id} is ${set.task}: wait for it to finish`);
    await this.checkCandidate(set, inst);
    return this.startWorkflow(set, 'switchover', { candidateId: inst.id }, [
      [inst.id, 'PROMOTING'],
      [set.primary_id, 'EJECTING'],
    ]);
  }

  /**
   * A switchover candidate: a direct replica of a live primary, streaming,
   * within max_lag of it by the positions both report now.
   */
  async checkCandidate(set: ReplicaSetsTable, inst: InstancesTable, opts: { awaitAgents?: boolean } = {}): Promise<void> {
    if (inst.replica_of !== set.primary_id) {
      throw failedPrecondition(
        `instance ${inst.id} replicates from ${inst.replica_of}, not from the primary ${set.primary_id}: only a direct replica can be promoted`,
      );
    }
    const strategy = this.strategyOf(set.datastore);
    const statusOf = async (id: string, what: string) => {
      try {
        const r = resultOf(
          await this.d.operations.call(id, payload('replicationStatus', {}), STATUS_TIMEOUT_MS, { requireConnected: !opts.awaitAgents }),
          'replication',
        );
        if (r) return r;
      } catch (err) {
        throw failedPrecondition(`${what} ${id} does not answer (${(err as Error).message}): switchover refused, nothing changed`);
      }
      throw failedPrecondition(`${what} ${id} reports no replication: switchover refused, nothing changed`);
    };
    const [primary, candidate] = await Promise.all([statusOf(set.primary_id, 'the primary'), statusOf(inst.id, 'the candidate')]);
    const lag = strategy.distance(primary.position, candidate.position);
    if (lag === undefined) {
      throw failedPrecondition(
        `the positions of instance ${inst.id} and its primary do not compare (diverged, or a history the primary no longer has): switchover refused, nothing changed`,
      );
    }
    if (lag > Number(set.max_lag)) {
      throw failedPrecondition(
        `instance ${inst.id} lags ${lag} ${strategy.lagUnit} behind the primary (max_lag ${set.max_lag}): switchover refused, nothing changed`,
      );
    }
    if (!candidate.connected) {
      throw failedPrecondition(
        `instance ${inst.id} is not streaming from its source${candidate.error ? ` (${candidate.error})` : ''}: switchover refused, nothing changed`,
      );
    }
  }

  /** The promotion as the store keeps it, in one transaction: the new primary, who follows whom, the old one to rejoin. */
  async recordPromotion(set: ReplicaSetsTable, oldId: string, newId: string, promotedAt: string): Promise<void> {
    await this.d.store.transaction().execute(async (trx) => {
      const pending = new Set<string>(JSON.parse(set.rejoin_pending) as string[]);
      pending.delete(newId);
      pending.add(oldId);
      await trx
        .updateTable('replica_sets')
        .set({ primary_id: newId, promoted_at: promotedAt, rejoin_pending: JSON.stringify([...pending]), updated_at: nowIso() })
        .where('id', '=', set.id)
        .where('primary_id', '=', oldId)
        .execute();
      await trx.updateTable('instances').set({ replica_of: newId }).where('replica_set_id', '=', set.id).where('replica_of', '=', oldId).execute();
      await trx.updateTable('instances').set({ replica_of: null }).where('id', '=', newId).execute();
      await trx.updateTable('instances').set({ replica_of: newId }).where('id', '=', oldId).execute();
    });
    this.d.log.info({ replicaSetId: set.id, oldPrimaryId: oldId, newPrimaryId: newId, promotedAt }, 'replica promoted');
  }

  /** A former primary follows the primary now. */
  async recordRejoined(setId: string, id: string): Promise<void> {
    const set = await this.set(setId);
    const pending = (JSON.parse(set.rejoin_pending) as string[]).filter((p) => p !== id);
    await this.d.store
      .updateTable('replica_sets')
      .set({ rejoin_pending: JSON.stringify(pending), updated_at: nowIso() })
      .where('id', '=', setId)
      .execute();
    this.d.log.info({ replicaSetId: setId, instanceId: id }, 'former primary rejoined as a replica');
  }

  /** What the user reads about the set now (why failover would be refused, a replica left behind). */
  async setStatus(setId: string, message: string): Promise<void> {
    await this.d.store
      .updateTable('replica_sets')
      .set({ status_message: message.slice(0, 2000), updated_at: nowIso() })
      .where('id', '=', setId)
      .execute();
  }

  /** Failover now (Trove's eject_replica_source), whatever the primary's state. */
  async failover(scope: CallerScope, setId: string, force: boolean, reason = 'requested'): Promise<ReplicaSetsTable> {
    const set = await this.get(scope, setId);
    if ((await this.members(set.id)).length < 2) throw failedPrecondition(`replica set ${set.id} has no replica to fail over to`);
    return this.startWorkflow(set, 'failover', { oldPrimaryId: set.primary_id, force, reason });
  }

  /** The replica leaves its set and takes writes on its own. */
  async detach(scope: CallerScope, instanceId: string): Promise<ReplicaSetsTable> {
    const inst = await this.d.instances.get(scope, instanceId);
    const set = await this.setOfReplica(inst);
    if (!isSettled(set.task)) throw failedPrecondition(`replica set ${set.id} is ${set.task}: wait for it to finish`);
    const others = (await this.members(set.id)).filter((m) => m.replica_of === inst.id);
    if (others.length) throw failedPrecondition(`instance ${inst.id} is the source of ${others.map((o) => o.id).join(', ')}: detach those first`);
    await this.d.operations.call(inst.id, { $case: 'promoteReplica', value: { term: set.term, source: undefined } });
    await this.d.store.updateTable('instances').set({ replica_set_id: null, replica_of: null, updated_at: nowIso() }).where('id', '=', inst.id).execute();
    await this.refreshSource(set, inst.id);
    return this.set(set.id);
  }

  async update(scope: CallerScope, req: UpdateReplicaSetRequest): Promise<ReplicaSetsTable> {
    const set = await this.get(scope, req.id);
    const strategy = this.strategyOf(set.datastore);
    const patch: Partial<ReplicaSetsTable> = {};
    const fields = new Set(req.updateMask);
    for (const f of fields)
      if (!['synchronous', 'failover', 'max_lag'].includes(f))
        throw invalidArgument('update_mask', `unknown field "${f.slice(0, 32)}" (synchronous, failover, max_lag)`);
    if (fields.has('synchronous')) {
      if (req.synchronous && !strategy.synchronous) throw failedPrecondition(`datastore ${set.datastore} has no synchronous replication`);
      patch.synchronous = req.synchronous ? 1 : 0;
    }
    if (fields.has('failover')) {
      if (req.failover !== FailoverMode.AUTOMATIC && req.failover !== FailoverMode.MANUAL) throw invalidArgument('failover', 'must be AUTOMATIC or MANUAL');
      patch.failover = req.failover === FailoverMode.MANUAL ? 'manual' : 'auto';
    }
    if (fields.has('max_lag')) {
      if (!Number.isSafeInteger(req.maxLag) || req.maxLag < 1) throw invalidArgument('max_lag', 'must be a positive whole number');
      patch.max_lag = req.maxLag;
    }
    if (!Object.keys(patch).length) return set;
    if (!isSettled(set.task)) throw failedPrecondition(`replica set ${set.id} is ${set.task}: wait for it to finish`);
    await this.d.store
      .updateTable('replica_sets')
      .set({ ...patch, updated_at: nowIso() })
      .where('id', '=', set.id)
      .execute();
    const next = await this.set(set.id);
    // Synchronous or not, guarded or not: the members take the new settings at once.
    if (patch.synchronous !== undefined || patch.failover !== undefined) await this.applySettings(next);
    return next;
  }

  /** The primary's source settings and each replica's attachment, re-sent (idempotent). */
  async applySettings(set: ReplicaSetsTable): Promise<void> {
    const members = await this.members(set.id);
    await this.d.operations.call(set.primary_id, { $case: 'configureSource', value: this.sourceRequest(set, members) });
    const byId = new Map(members.map((m) => [m.id, m]));
    for (const m of members.filter((x) => x.replica_of)) {
      const source = byId.get(m.replica_of!);
      if (source) await this.d.operations.call(m.id, { $case: 'attachReplica', value: this.attachRequest(set, source, m) });
    }
  }

  /** What a source is told: the account, synchronous or not, the replicas it serves, and whether the controller fails it over. */
  sourceRequest(set: ReplicaSetsTable, members: InstancesTable[], sourceId = set.primary_id, term = set.term) {
    return {
      term,
      credentials: this.credentials(set),
      synchronous: set.synchronous === 1 && sourceId === set.primary_id,
      replicas: members.filter((m) => m.replica_of === sourceId).map((m) => ({ name: replicaName(m.id), host: m.host })),
      failoverGuard: set.failover === 'auto' && sourceId === set.primary_id,
    };
  }

  attachRequest(set: ReplicaSetsTable, source: InstancesTable, replica: InstancesTable, term = set.term) {
    return {
      term,
      sourceHost: source.host,
      sourcePort: source.port,
      credentials: this.credentials(set),
      name: replicaName(replica.id),
      synchronous: set.synchronous === 1 && source.id === set.primary_id,
    };
  }

  /** After a replica left: its source stops serving it (a PostgreSQL slot is dropped). */
  async refreshSource(set: ReplicaSetsTable, leftId: string): Promise<void> {
    const members = (await this.members(set.id)).filter((m) => m.id !== leftId);
    await this.d.operations
      .call(set.primary_id, { $case: 'configureSource', value: this.sourceRequest(set, members) })
      .catch((err) =>
        this.d.log.warn({ replicaSetId: set.id, err: (err as Error).message }, 'could not update the primary after a replica left; the next change will'),
      );
  }

  private async setOfReplica(inst: InstancesTable): Promise<ReplicaSetsTable> {
    if (!inst.replica_set_id || !inst.replica_of) throw failedPrecondition(`instance ${inst.id} is not a replica`);
    return this.set(inst.replica_set_id);
  }

  /**
   * Before an instance is deleted: a primary with replicas only with
   * `detachReplicas` (each becomes standalone first); a replica leaves its set.
   */
  async beforeDelete(inst: InstancesTable, detachReplicas: boolean): Promise<void> {
    if (!inst.replica_set_id) return;
    const set = await this.set(inst.replica_set_id).catch(() => undefined);
    if (!set) return;
    const members = await this.members(set.id);
    const replicas = members.filter((m) => m.replica_of === inst.id);
    if (set.primary_id === inst.id && replicas.length) {
      if (!detachReplicas) {
        throw failedPrecondition(
          `instance ${inst.id} is the primary of replica set ${set.id} with replicas ${replicas.map((r) => r.id).join(', ')}: promote one first, or delete with detach_replicas`,
        );
      }
      for (const r of replicas) {
        await this.d.operations.call(r.id, { $case: 'promoteReplica', value: { term: set.term, source: undefined } }).catch(() => undefined);
        await this.d.store.updateTable('instances').set({ replica_set_id: null, replica_of: null }).where('id', '=', r.id).execute();
      }
    }
    if (set.primary_id === inst.id) {
      await this.d.store.updateTable('replica_sets').set({ deleted_at: nowIso() }).where('id', '=', set.id).execute();
    } else {
      if (replicas.length)
        throw failedPrecondition(`instance ${inst.id} is the source of ${replicas.map((r) => r.id).join(', ')}: delete or detach those first`);
      await this.refreshSource(set, inst.id);
    }
    await this.d.store.updateTable('instances').set({ replica_set_id: null, replica_of: null }).where('id', '=', inst.id).execute();
  }

  // ---- what the API shows --------------------------------------------------------------------------

  async toProto(set: ReplicaSetsTable): Promise<ReplicaSet> {
    const members = await this.members(set.id);
    const wf = await this.d.store
      .selectFrom('workflows')
      .select(['step_name', 'state'])
      .where('family', '=', FAMILY)
      .where('subject_id', '=', set.id)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    const infos = await Promise.all(members.map((m) => this.infoOf(m, set)));
    const pending = JSON.parse(set.rejoin_pending) as string[];
    return {
      id: set.id,
      datastore: set.datastore,
      primaryId: set.primary_id,
      term: Number(set.term),
      synchronous: set.synchronous === 1,
      failover: set.failover === 'manual' ? FailoverMode.MANUAL : FailoverMode.AUTOMATIC,
      maxLag: Number(set.max_lag),
      task: replicaSetTaskProto(set.task),
      taskMessage: set.task_message,
      statusMessage: set.status_message,
      workflowStep: wf?.state === 'RUNNING' ? wf.step_name : '',
      members: infos.map((i) => ({ ...i, rejoinPending: pending.includes(i.instanceId) })),
      createdAt: set.created_at,
      updatedAt: set.updated_at,
    };
  }

  /** A member as the controller last heard it, with its lag behind the primary. */
  async infoOf(inst: InstancesTable, set: ReplicaSetsTable): Promise<ReplicaInfo> {
    const strategy = this.strategyOf(set.datastore);
    const agent = await this.d.store.selectFrom('agents').selectAll().where('instance_id', '=', inst.id).executeTakeFirst();
    const r = memberReport(inst.id, agent, this.d.missedHeartbeats).replication;
    const primaryAgent = await this.d.store.selectFrom('agents').select('replication').where('instance_id', '=', set.primary_id).executeTakeFirst();
    const primaryPosition = decodeReplication(primaryAgent?.replication ?? null)?.position ?? '';
    const isPrimary = set.primary_id === inst.id;
    const lag = !isPrimary && r?.position && primaryPosition ? (strategy.distance(primaryPosition, r.position) ?? 0) : 0;
    return {
      instanceId: inst.id,
      role: isPrimary ? ReplicationRole.PRIMARY : ReplicationRole.REPLICA,
      replicaOf: inst.replica_of ?? '',
      host: inst.host,
      port: inst.port,
      position: r?.position ?? '',
      connected: isPrimary ? true : (r?.connected ?? false),
      lag,
      lagUnit: strategy.lagUnit,
      lagSeconds: isPrimary ? 0 : (r?.lagSeconds ?? -1),
      fenced: r?.fenced ?? false,
      synchronous: r?.synchronous ?? false,
      error: r?.error ?? '',
      rejoinPending: false,
    };
  }

  /** The replication fields of an instance (role, source, replicas, lag). */
  async instanceFields(inst: InstancesTable): Promise<Pick<Instance, 'replicaSetId' | 'role' | 'replicaOf' | 'replicas' | 'replication'>> {
    if (!inst.replica_set_id) return { replicaSetId: '', role: ReplicationRole.STANDALONE, replicaOf: '', replicas: [], replication: undefined };
    const set = await this.set(inst.replica_set_id).catch(() => undefined);
    if (!set) return { replicaSetId: '', role: ReplicationRole.STANDALONE, replicaOf: '', replicas: [], replication: undefined };
    const replicas = await this.d.store.selectFrom('instances').select('id').where('replica_of', '=', inst.id).where('deleted_at', 'is', null).execute();
    const info = await this.infoOf(inst, set);
    return { replicaSetId: set.id, role: info.role, replicaOf: inst.replica_of ?? '', replicas: replicas.map((r) => r.id), replication: info };
  }

  /** The sets a detector pass looks at. */
  liveSets(): Promise<ReplicaSetsTable[]> {
    return this.d.store.selectFrom('replica_sets').selectAll().where('deleted_at', 'is', null).execute();
  }
}
