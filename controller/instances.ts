// Instance lifecycle as the controller sees it: the task (states/instance-task.ts)
// and the workflows that move it. Operations move the task as the operations
// table says (prepare: BUILDING, restart: REBOOTING, and their *_ERROR forms),
// inside their own transactions; deletion is a workflow of its own. Every step
// is in the store, so a restarted controller picks up where it stopped.
import { MAX_VOLUME_MB, MIN_VOLUME_MB } from './provisioner/volumes.js';
import { randomUUID } from 'node:crypto';
import type { CreateInstanceRequest, Instance } from '../proto/gen/steward/v1/api.js';
import { PrepareRequest, type ClusterMembership } from '../proto/gen/steward/v1/agent.js';
import { ReplicationRole } from '../proto/gen/steward/v1/replication.js';
import { DatastoreStatus } from '../proto/gen/steward/v1/common.js';
import type { RestoreBackupCommand } from '../proto/gen/steward/v1/backups.js';
import { failedPrecondition, invalidArgument } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import { checkCommand, specOfKind } from '../managers/sdk/operations/commands.js';
import { checkMemory } from '../managers/sdk/operations/table.js';
import { payload, resultOf } from '../managers/sdk/operations/payload.js';
import { OperationState, UNFINISHED } from '../managers/sdk/operations/state.js';
import { isLost, type AgentRegistry } from './agent-registry.js';
import type { DatastoreCatalog } from './catalog.js';
import { storedResult, type OperationService } from './operations.js';
import type { Provisioner } from './provisioner/provisioner.js';
import type { Store } from './store/open.js';
import type { Security } from './security.js';
import type { AgentsTable, InstancesTable, OperationsTable } from './store/schema.js';
import { nowIso } from './clock.js';
import type { Notifier } from './notifications/notifier.js';
import { instanceTask, instanceTaskProto, isIdle } from './states/instance-task.js';
import { findVisible, visibleRows, type CallerScope } from './tenancy.js';
import { checkDisplayName } from './names.js';

const DEFAULT_MEMORY_MB = 512;

export interface InstanceDeps {
  store: Store;
  operations: OperationService;
  agents: AgentRegistry;
  catalog: DatastoreCatalog;
  provisioner: Provisioner;
  missedHeartbeats: number;
  security: Security;
  notifier: Notifier;
  log: Logger;
}

/** Who creates an instance: the tenant that will own it, and the scope its backup is looked up in. */
export interface Creator {
  tenantId: string;
  scope: CallerScope;
}

/** Resolves "create from backup" into the chain prepare restores (BackupService.restoreCommand). */
export type RestoreSource = (scope: CallerScope, backupId: string, datastore: string, version: string) => Promise<RestoreBackupCommand>;

/** A configuration group an instance is created with: checked to be visible and of its datastore (ConfigurationService.forNewInstance). */
export type ConfigurationSource = (scope: CallerScope, groupId: string, datastore: string) => Promise<{ id: string; values: Record<string, string> }>;

/** An instance's replication fields and the check before it is deleted (ReplicationService, wired after this one). */
export interface ReplicationView {
  instanceFields(row: InstancesTable): Promise<ReplicationFields>;
  beforeDelete(row: InstancesTable, detachReplicas: boolean): Promise<void>;
}
export type ReplicationFields = Pick<Instance, 'replicaSetId' | 'role' | 'replicaOf' | 'replicas' | 'replication'>;
const STANDALONE: ReplicationFields = { replicaSetId: '', role: ReplicationRole.STANDALONE, replicaOf: '', replicas: [], replication: undefined };

export class InstanceService {
  private readonly startedAt = Date.now();
  private restoreSource?: RestoreSource;
  private configurationSource?: ConfigurationSource;
  private replication?: ReplicationView;

  constructor(private readonly d: InstanceDeps) {
    d.operations.onChange((trx, op, moment) => this.onOperation(trx, op, moment));
  }

  /** Set once backups are wired (they need this service, so they cannot be a constructor dependency). */
  setRestoreSource(source: RestoreSource): void {
    this.restoreSource = source;
  }

  /** Set once configuration groups are wired (they need this service too). */
  setConfigurationSource(source: ConfigurationSource): void {
    this.configurationSource = source;
  }

  /** Set once replication is wired (it needs this service too). */
  setReplication(view: ReplicationView): void {
    this.replication = view;
  }

  /**
   * Checks the whole request (the prepare command through the operations
   * table, a backup to restore) before anything exists, then records,
   * provisions and sends prepare. `member`: the instance joins a cluster.
   * `replica`: the instance joins a replica set; its prepare waits for the
   * seed backup of its source (`startPrepare`, from the replica set's workflow).
   */
  async create(
    creator: Creator,
    req: CreateInstanceRequest,
    member?: { clusterId: string; membership: ClusterMembership },
    replica?: { setId: string; sourceId: string },
  ): Promise<{ instance: InstancesTable; prepare?: OperationsTable; enrollmentToken: string }> {
    const name = checkDisplayName(req.name, 'name');
    const module = this.d.catalog.get(req.datastore);
    const memoryMb = req.memoryMb || DEFAULT_MEMORY_MB;
    checkMemory(memoryMb, 'memory_mb');
    const restore = req.backupId ? await this.restoreFor(req, module.name, creator.scope, !!member) : undefined;
    const group = await this.groupFor(creator.scope, req, module.name, replica?.sourceId);
    const volumeSizeMb = await this.volumeFor(req.volumeSizeMb);
    const prepare = PrepareRequest.fromPartial({
      memoryMb,
      databases: req.databases,
      users: req.users,
      cluster: member?.membership,
      restore,
      configuration: group?.values,
    });
    checkCommand(payload('prepare', prepare), module);

    const id = randomUUID();
    const now = nowIso();
    const row: InstancesTable = {
      id,
      tenant_id: creator.tenantId,
      name,
      datastore: module.name,
      datastore_version: req.datastoreVersion,
      memory_mb: memoryMb,
      task: 'BUILDING',
      task_message: '',
      host: '',
      port: 0,
      created_at: now,
      updated_at: now,
      deleted_at: null,
      replica_set_id: replica?.setId ?? null,
      replica_of: replica?.sourceId ?? null,
      configuration_id: group?.id ?? null,
      pending_restart: '[]',
      volume_size_mb: volumeSizeMb,
    };
    await this.d.store.insertInto('instances').values(row).execute();
    const { token: enrollmentToken } = await this.d.security.enrollment.issue(id);
    try {
      const placement = await this.d.provisioner.provision({
        instanceId: id,
        datastore: this.d.catalog.specifierOf(module.name),
        memoryMb,
        defaultPort: module.defaultPort,
        enrollmentToken,
        volumeSizeMb,
      });
      row.host = placement.host;
      row.port = placement.port;
      await this.d.store.updateTable('instances').set({ host: row.host, port: row.port }).where('id', '=', id).execute();
    } catch (err) {
      await instanceTask.move(this.d.store, id, 'BUILDING_ERROR', `provisioning failed: ${(err as Error).message}`);
      throw err;
    }
    this.d.log.info({ instanceId: id, datastore: module.name }, 'instance creation started');
    if (replica) return { instance: row, enrollmentToken };
    const op = await this.startPrepare(row, prepare);
    return { instance: row, prepare: op, enrollmentToken };
  }

  /** Sends prepare to a provisioned instance (its address filled in); the agent runs it once it has enrolled. */
  startPrepare(row: InstancesTable, prepare: PrepareRequest): Promise<OperationsTable> {
    return this.d.operations.start(row.id, payload('prepare', { ...prepare, memoryMb: row.memory_mb, bindAddress: row.host, port: row.port }), {
      requireConnected: false,
    });
  }

  /**
   * The group a new instance runs with: the one named, else the one its backup
   * was taken with, else its source's (a replica). A backup's group deleted
   * since is refused rather than silently dropped.
   */
  private async groupFor(scope: CallerScope, req: CreateInstanceRequest, datastore: string, sourceId?: string) {
    let groupId = req.configurationId;
    let why = 'configuration_id';
    if (!groupId && req.backupId) {
      const b = await this.d.store.selectFrom('backups').select('configuration_id').where('id', '=', req.backupId).executeTakeFirst();
      groupId = b?.configuration_id ?? '';
      why = `the configuration group backup ${req.backupId} was taken with`;
    }
    if (!groupId && sourceId) groupId = (await this.get(scope, sourceId)).configuration_id ?? '';
    if (!groupId) return undefined;
    if (!this.configurationSource) throw failedPrecondition('configuration groups are not enabled on this controller');
    return this.configurationSource(scope, groupId, datastore).catch((err) => {
      throw why === 'configuration_id'
        ? err
        : failedPrecondition(`${why} (${groupId}) cannot be used: ${(err as Error).message}; name one with configuration_id`);
    });
  }

  /** A data volume asked for: in range and one this controller's provisioner can make (checked before anything exists). */
  private async volumeFor(sizeMb: number): Promise<number> {
    if (!sizeMb) return 0;
    if (sizeMb < MIN_VOLUME_MB || sizeMb > MAX_VOLUME_MB) throw invalidArgument('volume_size_mb', `must be between ${MIN_VOLUME_MB} and ${MAX_VOLUME_MB}`);
    const why = this.d.provisioner.volumeUnavailableReason ? await this.d.provisioner.volumeUnavailableReason() : 'this provisioner does not manage volumes';
    if (why) throw failedPrecondition(`no data volume can be made here: ${why}`);
    return sizeMb;
  }

  /** Grows the data volume: the device by the provisioner, then the filesystem online by the agent. A shrink is refused. */
  async resizeVolume(scope: CallerScope, id: string, sizeMb: number): Promise<OperationsTable> {
    const row = await this.get(scope, id);
    if (!instanceTask.machine.canMove(instanceTask.parse(row.task), 'RESIZING')) {
      throw failedPrecondition(`instance ${id} is ${row.task}${row.task_message ? `: ${row.task_message}` : ''}`);
    }
    if (!row.volume_size_mb || !this.d.provisioner.growVolume) throw failedPrecondition(`instance ${id} has no data volume Steward manages`);
    if (!Number.isInteger(sizeMb) || sizeMb > MAX_VOLUME_MB) throw invalidArgument('volume_size_mb', `must be at most ${MAX_VOLUME_MB}`);
    if (sizeMb < row.volume_size_mb) throw failedPrecondition(`a volume is never shrunk: instance ${id} has ${row.volume_size_mb} MB, ${sizeMb} MB asked`);
    if (sizeMb === row.volume_size_mb && row.task !== 'RESIZING_ERROR') throw failedPrecondition(`instance ${id} already has a ${sizeMb} MB volume`);
    await this.d.provisioner.growVolume(id, sizeMb);
    return this.d.operations.start(id, payload('growVolume', { volumeSizeMb: sizeMb, oldVolumeSizeMb: row.volume_size_mb }));
  }

  /** The values of an instance's group (a replica's prepare, rebuilt by its replica set's workflows). */
  async configurationValues(row: InstancesTable): Promise<Record<string, string>> {
    if (!row.configuration_id) return {};
    const g = await this.d.store.selectFrom('configurations').select('values').where('id', '=', row.configuration_id).executeTakeFirst();
    return g ? (JSON.parse(g.values) as Record<string, string>) : {};
  }

  /** Everything about a restore is checked before the instance exists: a refused one leaves nothing. */
  private async restoreFor(req: CreateInstanceRequest, datastore: string, scope: CallerScope, clustered: boolean): Promise<RestoreBackupCommand> {
    if (clustered) throw failedPrecondition('a cluster member cannot be created from a backup');
    if (req.databases.length) throw invalidArgument('databases', 'cannot be created together with a restore from a backup; create them afterwards');
    if (req.users.length) throw invalidArgument('users', 'cannot be created together with a restore from a backup; create them afterwards');
    if (!this.restoreSource) throw failedPrecondition('backups are not enabled on this controller');
    // The backup first: "a mysql backup cannot be restored into postgresql" says more than a missing capability.
    return this.restoreSource(scope, req.backupId, datastore, req.datastoreVersion);
  }

  /** The caller's instance, or NOT_FOUND (also for another tenant's: existence is not revealed). */
  get(scope: CallerScope, id: string): Promise<InstancesTable> {
    return findVisible(this.d.store, 'instances', id, scope, 'instance');
  }

  list(scope: CallerScope): Promise<InstancesTable[]> {
    return visibleRows(this.d.store, 'instances', scope).orderBy('created_at').execute();
  }

  /** An instance that can take datastore operations now (no task running, no failed one to deal with). */
  async ready(scope: CallerScope, id: string): Promise<InstancesTable> {
    const row = await this.get(scope, id);
    if (!isIdle(row.task)) throw failedPrecondition(`instance ${id} is ${row.task}${row.task_message ? `: ${row.task_message}` : ''}`);
    return row;
  }

  /** A new display name: checked like a created one, recorded in the controller only (the guest has no name). */
  async rename(scope: CallerScope, id: string, newName: string): Promise<InstancesTable> {
    const name = checkDisplayName(newName, 'name');
    const row = await this.get(scope, id);
    if (row.task === 'DELETING') throw failedPrecondition(`instance ${id} is DELETING`);
    const updatedAt = nowIso();
    await this.d.store.updateTable('instances').set({ name, updated_at: updatedAt }).where('id', '=', id).where('deleted_at', 'is', null).execute();
    return { ...row, name, updated_at: updatedAt };
  }

  /**
   * Memory resize (also the way out of RESIZING_ERROR, to any size). Refused
   * before anything is sent: the same size, a primary
   * that has replicas (resize them, switch over, then resize it as a replica:
   * never restart a primary under its clients), a group that would not fit.
   */
  async resize(scope: CallerScope, id: string, memoryMb: number): Promise<OperationsTable> {
    checkMemory(memoryMb, 'memory_mb');
    const row = await this.get(scope, id);
    // From NONE, or again after a failed resize.
    if (!instanceTask.machine.canMove(instanceTask.parse(row.task), 'RESIZING')) {
      throw failedPrecondition(`instance ${id} is ${row.task}${row.task_message ? `: ${row.task_message}` : ''}`);
    }
    const module = this.d.catalog.require(row.datastore, 'resize');
    // After a failed resize the same size is allowed: it makes the agent's recorded size the controller's again.
    if (memoryMb === row.memory_mb && row.task !== 'RESIZING_ERROR') throw failedPrecondition(`instance ${id} already has ${memoryMb} MB`);
    const replicas = await this.d.store.selectFrom('instances').select('id').where('replica_of', '=', id).where('deleted_at', 'is', null).execute();
    if (replicas.length) {
      throw failedPrecondition(
        `instance ${id} is the primary of ${replicas.length} replica(s): resize them first, switch over (instance promote), then resize this one as a replica`,
      );
    }
    const why = module.validator.parameters?.fits?.(await this.configurationValues(row), memoryMb);
    if (why) throw failedPrecondition(`configuration group ${row.configuration_id} does not fit ${memoryMb} MB: ${why}`);
    return this.d.operations.start(id, payload('resize', { memoryMb, oldMemoryMb: row.memory_mb }));
  }

  async restart(scope: CallerScope, id: string): Promise<OperationsTable> {
    const row = await this.get(scope, id);
    if (!instanceTask.machine.canMove(instanceTask.parse(row.task), 'REBOOTING')) throw failedPrecondition(`instance ${id} is ${row.task}`);
    return this.d.operations.start(id, payload('restart', {}));
  }

  async delete(scope: CallerScope, id: string, opts: { detachReplicas?: boolean } = {}): Promise<InstancesTable> {
    const row = await this.get(scope, id);
    if (row.task !== 'DELETING') {
      // A primary with replicas is refused unless they are detached first; a replica leaves its set.
      await this.replication?.beforeDelete(row, opts.detachReplicas ?? false);
      // A deletion already under way (a repeated request) has had its `.start`.
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        await instanceTask.begin(trx, id, 'DELETING');
        await this.d.notifier.instance(trx, 'delete', 'start', id);
      });
      row.task = 'DELETING';
    }
    void this.runDelete(id);
    return row;
  }

  /** Resumes workflows a previous controller process left half done. */
  async resume(): Promise<void> {
    const deleting = await this.d.store.selectFrom('instances').select('id').where('task', '=', 'DELETING').where('deleted_at', 'is', null).execute();
    for (const r of deleting) void this.runDelete(r.id);
  }

  /** Fails the unfinished operations of agents that stopped heartbeating. */
  async sweepLostAgents(now = Date.now()): Promise<void> {
    const rows = await this.d.store
      .selectFrom('operations')
      .innerJoin('agents', 'agents.instance_id', 'operations.instance_id')
      .select(['operations.instance_id', 'operations.kind', 'agents.last_heartbeat_at', 'agents.heartbeat_interval_ms'])
      .where('operations.state', 'in', UNFINISHED)
      .execute();
    const lost = new Map<string, number>();
    for (const r of rows.map((row) => this.d.agents.live(row))) {
      if (specOfKind(r.kind)?.failsWithLostAgent === false) continue;
      // Heartbeats sent while this controller was down went nowhere: the clock
      // for "lost" starts again when it starts.
      const since = new Date(Math.max(Date.parse(r.last_heartbeat_at ?? '') || 0, this.startedAt)).toISOString();
      if (isLost(since, r.heartbeat_interval_ms, this.d.missedHeartbeats, now)) lost.set(r.instance_id, Math.round((now - Date.parse(since)) / 1000));
    }
    for (const [instanceId, silentS] of lost) {
      this.d.log.warn({ instanceId, silentS }, 'agent lost: failing its unfinished operations');
      for (const op of await this.unfinishedOps(instanceId)) {
        if (specOfKind(op.kind)?.failsWithLostAgent === false) continue;
        await this.d.operations.abandon(op, 'UNAVAILABLE', `agent lost during the operation (no heartbeat for ${silentS} s)`);
      }
    }
  }

  async toProto(row: InstancesTable): Promise<Instance> {
    const stored = await this.d.store.selectFrom('agents').selectAll().where('instance_id', '=', row.id).executeTakeFirst();
    const agent = stored && this.d.agents.live(stored);
    const replication = row.replica_set_id && this.replication ? await this.replication.instanceFields(row) : STANDALONE;
    return { ...instanceProto(row, agent, this.d.agents.isConnected(row.id), this.d.missedHeartbeats), ...replication };
  }

  private unfinishedOps(instanceId: string): Promise<OperationsTable[]> {
    return this.d.store.selectFrom('operations').selectAll().where('instance_id', '=', instanceId).where('state', 'in', UNFINISHED).execute();
  }

  private async runDelete(id: string): Promise<void> {
    try {
      // First end what is running (a long backup would otherwise hold the agent's one mutation slot ahead of destroy).
      await this.d.operations.failUnfinished(id, 'CANCELLED', 'instance deleted');
      if (this.d.agents.isConnected(id)) {
        const op = await this.d.operations.start(id, payload('destroy', {})).catch(() => undefined);
        if (op) await this.d.operations.wait(op.id, 60_000);
      }
      await this.d.security.revokeInstance(id);
      this.d.agents.disconnect(id, 'instance deleted');
      await this.d.provisioner.destroy(id);
      await this.d.operations.failUnfinished(id, 'CANCELLED', 'instance deleted');
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        const now = nowIso();
        // Guarded: a second runDelete (resume racing a repeated request) must not report the end twice.
        const res = await trx
          .updateTable('instances')
          .set({ deleted_at: now, updated_at: now })
          .where('id', '=', id)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) return;
        await this.d.notifier.instance(trx, 'delete', 'end', id);
        await trx.deleteFrom('agents').where('instance_id', '=', id).execute();
      });
      this.d.agents.forget(id);
      this.d.log.info({ instanceId: id }, 'instance deleted');
    } catch (err) {
      this.d.log.error({ instanceId: id, err: (err as Error).message }, 'instance deletion failed');
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        await instanceTask.move(trx, id, 'DELETING_ERROR', (err as Error).message);
        await this.d.notifier.instance(trx, 'delete', 'error', id, (err as Error).message);
      });
    }
  }

  /** The task an operation sets (operations table: `task`), and what a finished prepare reports. */
  private async onOperation(trx: Store, op: OperationsTable, moment: 'accepted' | 'progressed' | 'finished'): Promise<void> {
    const task = specOfKind(op.kind)?.task;
    if (moment === 'finished' && op.state === OperationState.SUCCEEDED && op.kind === 'prepare') await this.recordVersion(trx, op);
    if (moment === 'finished' && op.state === OperationState.SUCCEEDED && (op.kind === 'resize' || op.kind === 'grow_volume')) await this.recordMemory(trx, op);
    if (!task || moment === 'progressed') return;
    if (moment === 'accepted') {
      // Prepare's instance was inserted BUILDING; a restart moves it now (refused if another task got there first).
      if (op.kind !== 'prepare') await instanceTask.begin(trx, op.instance_id, task.running);
      return;
    }
    // A deletion under way owns the task; anything else this operation set moves on.
    if (op.state === OperationState.SUCCEEDED) await instanceTask.move(trx, op.instance_id, 'NONE');
    else await instanceTask.move(trx, op.instance_id, task.failed, op.error_message ?? op.message);
  }

  /** The new memory or volume size, once in force (the `.end` event reports it). */
  private async recordMemory(trx: Store, op: OperationsTable): Promise<void> {
    // Hooks see the stored row, whose command is sealed: opened here, never decoded as it is.
    const p = this.d.operations.commandOf(op)?.payload;
    if (p?.$case === 'growVolume')
      await trx.updateTable('instances').set({ volume_size_mb: p.value.volumeSizeMb, updated_at: nowIso() }).where('id', '=', op.instance_id).execute();
    if (p?.$case === 'resize')
      await trx.updateTable('instances').set({ memory_mb: p.value.memoryMb, updated_at: nowIso() }).where('id', '=', op.instance_id).execute();
  }

  /** The server version prepare found, so that the `.end` event and the instance report it before a heartbeat does. */
  private async recordVersion(trx: Store, op: OperationsTable): Promise<void> {
    const version = resultOf(storedResult(op), 'prepared')?.datastoreVersion;
    if (version) await trx.updateTable('instances').set({ datastore_version: version }).where('id', '=', op.instance_id).execute();
  }
}

export function instanceProto(
  row: InstancesTable,
  agent: AgentsTable | undefined,
  connected: boolean,
  missed: number,
): Omit<Instance, keyof ReplicationFields> {
  const pendingRestart = JSON.parse(row.pending_restart) as string[];
  const facts = agent ? (JSON.parse(agent.facts) as Record<string, string>) : {};
  const status = agent?.status ?? 0;
  return {
    id: row.id,
    name: row.name,
    datastore: row.datastore,
    datastoreVersion: agent?.datastore_version || row.datastore_version,
    memoryMb: row.memory_mb,
    task: instanceTaskProto(row.task),
    taskMessage: row.task_message,
    // A serving server that has not taken its group's restart-required values yet (Trove's RESTART_REQUIRED).
    status: pendingRestart.length && status === DatastoreStatus.HEALTHY ? DatastoreStatus.RESTART_REQUIRED : status,
    agentConnected: connected,
    agentLost: !!agent && isLost(agent.last_heartbeat_at, agent.heartbeat_interval_ms, missed),
    host: row.host,
    port: row.port,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastHeartbeatAt: agent?.last_heartbeat_at ?? '',
    capabilities: agent ? (JSON.parse(agent.capabilities) as string[]) : [],
    configurationId: row.configuration_id ?? '',
    pendingRestart,
    volumeSizeMb: row.volume_size_mb,
    volumeUsedMb: Number(facts.volume_used_mb ?? 0),
    volumeTotalMb: Number(facts.volume_total_mb ?? 0),
    volumeFull: facts.volume_full === 'true',
  };
}
