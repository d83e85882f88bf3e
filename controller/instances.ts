// Instance lifecycle as the controller sees it: the task (BUILDING, REBOOTING,
// DELETING and their *_ERROR forms) and the workflows that move it. Every step
// is in the store, so a restarted controller picks up where it stopped. Task
// changes that an event reports share its transaction: through the operation
// (create, reboot) or the notifier (deletion).
import { randomUUID } from 'node:crypto';
import { OperationState } from '../proto/gen/steward/v1/common.js';
import { InstanceTask, type CreateInstanceRequest, type Instance } from '../proto/gen/steward/v1/api.js';
import { failedPrecondition, invalidArgument, notFound } from '../managers/sdk/errors.js';
import type { ClusterMembership } from '../proto/gen/steward/v1/agent.js';
import type { RestoreBackupCommand } from '../proto/gen/steward/v1/backups.js';
import type { Logger } from '../managers/sdk/logger.js';
import { isLost, type AgentRegistry } from './agent-registry.js';
import type { DatastoreCatalog } from './catalog.js';
import type { OperationService } from './operations.js';
import type { Provisioner } from './provisioner/provisioner.js';
import type { Store } from './store/open.js';
import type { Security } from './security.js';
import type { AgentsTable, InstancesTable, OperationsTable } from './store/schema.js';
import { nowIso } from './clock.js';
import type { Notifier } from './notifications/notifier.js';

type TaskName = keyof typeof InstanceTask;

const ERROR_OF: Record<string, TaskName> = { prepare: 'BUILDING_ERROR', restart: 'REBOOTING_ERROR' };
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

/** Resolves "create from backup" into the chain prepare restores (BackupService.restoreCommand). */
export type RestoreSource = (scope: string, backupId: string, datastore: string, version: string) => Promise<RestoreBackupCommand>;

export class InstanceService {
  private readonly startedAt = Date.now();
  private restoreSource?: RestoreSource;

  constructor(private readonly d: InstanceDeps) {
    d.operations.onFinishing((trx, op) => this.onOperationFinishing(trx, op));
  }

  /** Set once backups are wired (they need this service, so they cannot be a constructor dependency). */
  setRestoreSource(source: RestoreSource): void {
    this.restoreSource = source;
  }

  /**
   * `member`: the instance joins a cluster (the cluster workflow creates it).
   * `backupScope`: the tenant scope a `backup_id` is looked up in ("*" for admins).
   */
  async create(
    tenantId: string,
    req: CreateInstanceRequest,
    member?: { clusterId: string; membership: ClusterMembership },
    backupScope: string = tenantId,
  ): Promise<{ instance: InstancesTable; prepare: OperationsTable; enrollmentToken: string }> {
    const name = req.name.trim();
    if (!name) throw invalidArgument('name', 'is required');
    if (name.length > 255) throw invalidArgument('name', 'is longer than 255 characters');
    if (/[\p{Cc}]/u.test(name)) throw invalidArgument('name', 'contains control characters');
    const module = this.d.catalog.get(req.datastore);
    const memoryMb = req.memoryMb || DEFAULT_MEMORY_MB;
    if (memoryMb < 128 || memoryMb > 1_048_576) throw invalidArgument('memory_mb', 'must be between 128 and 1048576');
    if (req.databases.length && !module.capabilities.includes('databases')) {
      throw failedPrecondition(`datastore ${module.displayName} does not support databases`);
    }
    if (req.users.length && !module.capabilities.includes('users')) {
      throw failedPrecondition(`datastore ${module.displayName} does not support users`);
    }
    req.databases.forEach((db, i) => module.validator.database(db, `databases[${i}]`));
    req.users.forEach((u, i) => {
      module.validator.user(u, `users[${i}]`);
      u.access.forEach((a, j) => module.validator.databaseName(a.database, `users[${i}].access[${j}].database`));
    });
    const restore = req.backupId ? await this.restoreFor(req, module.name, backupScope, !!member) : undefined;

    const id = randomUUID();
    const now = nowIso();
    const row: InstancesTable = {
      id,
      tenant_id: tenantId,
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
      });
      row.host = placement.host;
      row.port = placement.port;
      await this.d.store.updateTable('instances').set({ host: row.host, port: row.port }).where('id', '=', id).execute();
    } catch (err) {
      await this.setTask(id, 'BUILDING_ERROR', `provisioning failed: ${(err as Error).message}`);
      throw err;
    }
    const prepare = await this.d.operations.start(
      id,
      'prepare',
      { prepare: { memoryMb, databases: req.databases, users: req.users, bindAddress: row.host, port: row.port, cluster: member?.membership, restore } },
      { requireConnected: false },
    );
    this.d.log.info({ instanceId: id, datastore: module.name }, 'instance creation started');
    return { instance: row, prepare, enrollmentToken };
  }

  /** Everything about a restore is checked before the instance exists: a refused one leaves nothing. */
  private async restoreFor(req: CreateInstanceRequest, datastore: string, scope: string, clustered: boolean): Promise<RestoreBackupCommand> {
    if (clustered) throw failedPrecondition('a cluster member cannot be created from a backup');
    if (req.databases.length) throw invalidArgument('databases', 'cannot be created together with a restore from a backup; create them afterwards');
    if (req.users.length) throw invalidArgument('users', 'cannot be created together with a restore from a backup; create them afterwards');
    if (!this.restoreSource) throw failedPrecondition('backups are not enabled on this controller');
    // The backup first: "a mysql backup cannot be restored into postgresql" says more than a missing capability.
    const restore = await this.restoreSource(scope, req.backupId, datastore, req.datastoreVersion);
    const module = this.d.catalog.get(datastore);
    if (!module.capabilities.includes('backup')) throw failedPrecondition(`datastore ${module.displayName} does not support restoring backups`);
    return restore;
  }

  /** The caller's instance, or NOT_FOUND (also for another tenant's: existence is not revealed). */
  async get(tenantId: string, id: string): Promise<InstancesTable> {
    const row = await this.d.store
      .selectFrom('instances')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!row || (tenantId !== '*' && row.tenant_id !== tenantId)) throw notFound(`instance ${id} not found`);
    return row;
  }

  async list(tenantId: string): Promise<InstancesTable[]> {
    let q = this.d.store.selectFrom('instances').selectAll().where('deleted_at', 'is', null);
    if (tenantId !== '*') q = q.where('tenant_id', '=', tenantId);
    return q.orderBy('created_at').execute();
  }

  /** An instance that can take datastore operations now (task NONE and agent connected). */
  async ready(tenantId: string, id: string): Promise<InstancesTable> {
    const row = await this.get(tenantId, id);
    if (row.task !== 'NONE') throw failedPrecondition(`instance ${id} is ${row.task}${row.task_message ? `: ${row.task_message}` : ''}`);
    return row;
  }

  async restart(tenantId: string, id: string): Promise<OperationsTable> {
    const row = await this.get(tenantId, id);
    if (row.task !== 'NONE' && row.task !== 'REBOOTING_ERROR') throw failedPrecondition(`instance ${id} is ${row.task}`);
    return this.d.operations.start(id, 'restart', { restart: {} }, { inTransaction: (trx) => this.setTask(id, 'REBOOTING', '', trx) });
  }

  async delete(tenantId: string, id: string): Promise<InstancesTable> {
    const row = await this.get(tenantId, id);
    if (row.task !== 'DELETING') {
      // A deletion already under way (a repeated request) has had its `.start`.
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        await this.setTask(id, 'DELETING', '', trx);
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
      .select(['operations.instance_id', 'agents.last_heartbeat_at', 'agents.heartbeat_interval_ms'])
      .where('operations.state', 'in', [OperationState.PENDING, OperationState.RUNNING])
      .where('operations.kind', '!=', 'destroy')
      .groupBy(['operations.instance_id', 'agents.last_heartbeat_at', 'agents.heartbeat_interval_ms'])
      .execute();
    for (const r of rows) {
      // Heartbeats sent while this controller was down went nowhere: the clock
      // for "lost" starts again when it starts.
      const since = new Date(Math.max(Date.parse(r.last_heartbeat_at ?? '') || 0, this.startedAt)).toISOString();
      if (!isLost(since, r.heartbeat_interval_ms, this.d.missedHeartbeats, now)) continue;
      const silentS = Math.round((now - Date.parse(since)) / 1000);
      this.d.log.warn({ instanceId: r.instance_id, silentS }, 'agent lost: failing its unfinished operations');
      await this.d.operations.failUnfinished(r.instance_id, 'UNAVAILABLE', `agent lost during the operation (no heartbeat for ${silentS} s)`);
    }
  }

  async toProto(row: InstancesTable): Promise<Instance> {
    const agent = await this.d.store.selectFrom('agents').selectAll().where('instance_id', '=', row.id).executeTakeFirst();
    return instanceProto(row, agent, this.d.agents.isConnected(row.id), this.d.missedHeartbeats);
  }

  private async runDelete(id: string): Promise<void> {
    try {
      // First end what is running (a long backup would otherwise hold the agent's one mutation slot ahead of destroy).
      await this.d.operations.failUnfinished(id, 'CANCELLED', 'instance deleted', OperationState.CANCELLED);
      if (this.d.agents.isConnected(id)) {
        const op = await this.d.operations.start(id, 'destroy', { destroy: {} }).catch(() => undefined);
        if (op) await this.d.operations.wait(op.id, 60_000);
      }
      await this.d.security.revokeInstance(id);
      this.d.agents.disconnect(id, 'instance deleted');
      await this.d.provisioner.destroy(id);
      await this.d.operations.failUnfinished(id, 'CANCELLED', 'instance deleted', OperationState.CANCELLED);
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        const now = nowIso();
        // Guarded: a second runDelete (resume racing a repeated request) must not report the end twice.
        const res = await trx.updateTable('instances').set({ deleted_at: now, updated_at: now }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) return;
        await this.d.notifier.instance(trx, 'delete', 'end', id);
        await trx.deleteFrom('agents').where('instance_id', '=', id).execute();
      });
      this.d.log.info({ instanceId: id }, 'instance deleted');
    } catch (err) {
      this.d.log.error({ instanceId: id, err: (err as Error).message }, 'instance deletion failed');
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        await this.setTask(id, 'DELETING_ERROR', (err as Error).message, trx);
        await this.d.notifier.instance(trx, 'delete', 'error', id, (err as Error).message);
      });
    }
  }

  private async onOperationFinishing(trx: Store, op: OperationsTable): Promise<void> {
    const errorTask = ERROR_OF[op.kind];
    if (!errorTask) return;
    const inst = await trx.selectFrom('instances').select('task').where('id', '=', op.instance_id).executeTakeFirst();
    if (!inst || inst.task === 'DELETING') return;
    if (op.state === OperationState.SUCCEEDED) await this.setTask(op.instance_id, 'NONE', '', trx);
    else await this.setTask(op.instance_id, errorTask, op.error_message ?? op.message, trx);
  }

  private async setTask(id: string, task: TaskName, message: string, db: Store = this.d.store): Promise<void> {
    await db.updateTable('instances').set({ task, task_message: message, updated_at: nowIso() }).where('id', '=', id).execute();
  }
}

export function instanceProto(row: InstancesTable, agent: AgentsTable | undefined, connected: boolean, missed: number): Instance {
  return {
    id: row.id,
    name: row.name,
    datastore: row.datastore,
    datastoreVersion: agent?.datastore_version || row.datastore_version,
    memoryMb: row.memory_mb,
    task: InstanceTask[row.task as TaskName] ?? InstanceTask.UNSPECIFIED,
    taskMessage: row.task_message,
    status: agent?.status ?? 0,
    agentConnected: connected,
    agentLost: !!agent && isLost(agent.last_heartbeat_at, agent.heartbeat_interval_ms, missed),
    host: row.host,
    port: row.port,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastHeartbeatAt: agent?.last_heartbeat_at ?? '',
    capabilities: agent ? (JSON.parse(agent.capabilities) as string[]) : [],
  };
}
