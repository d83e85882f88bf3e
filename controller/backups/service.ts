// Backup records and their workflow. A backup is a row (NEW -> BUILDING ->
// SAVING -> COMPLETED | FAILED, DELETE_FAILED) plus the agent operation that
// makes it ("create_backup"). The row moves with the operation inside the
// operation's own transactions, so a controller restart, a lost agent, a
// killed agent (reported "agent restarted") or a deleted instance all end a
// running backup FAILED through the one path every operation outcome takes;
// its partial objects are then removed from storage.
import { randomUUID } from 'node:crypto';
import { OperationResult, OperationState } from '../../proto/gen/steward/v1/common.js';
import { BackupType, type BackupArtifact, type CreateBackupApiRequest, type RestoreBackupCommand } from '../../proto/gen/steward/v1/backups.js';
import { failedPrecondition, invalidArgument, notFound } from '../../managers/sdk/errors.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { discardBackup } from '../../managers/sdk/backup/pipeline.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import type { BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import type { DatastoreCatalog } from '../catalog.js';
import type { InstanceService } from '../instances.js';
import type { Notifier } from '../notifications/notifier.js';
import type { OperationService } from '../operations.js';
import type { Store } from '../store/open.js';
import type { OperationsTable } from '../store/schema.js';
import { nowIso } from '../clock.js';
import { checkRestorable, chainTo, descendantsDeepestFirst } from './chain.js';
import { storageFromRecord, storageRecord } from './config.js';
import { emitBackupEvent } from './events.js';
import type { BackupKeyring } from './keyring.js';
import { artifactOf, bytesFromProgress, completion } from './records.js';
import { RUNNING_STATUSES, type BackupStatusName, type BackupsTable } from './schema.js';

export const CREATE_BACKUP = 'create_backup';
/** Backups stream for as long as the data takes; the deadline only catches an agent that went silent. */
export const BACKUP_TIMEOUT_MS = 12 * 3600_000;

export interface BackupDeps {
  store: Store;
  operations: OperationService;
  instances: InstanceService;
  catalog: DatastoreCatalog;
  keyring: BackupKeyring;
  storage: BackupStorage;
  compression: string;
  notifier: Notifier;
  log: Logger;
}

export class BackupService {
  constructor(private readonly d: BackupDeps) {
    d.operations.onFinishing((trx, op) => this.onOperationFinishing(trx, op));
    d.operations.onFinished((op) => this.onOperationFinished(op));
  }

  async create(tenantId: string, req: CreateBackupApiRequest): Promise<BackupsTable> {
    const name = req.name.trim();
    if (!name) throw invalidArgument('name', 'is required');
    if (name.length > 255 || /[\p{Cc}]/u.test(name)) throw invalidArgument('name', 'must be at most 255 characters without control characters');
    if (req.description.length > 1024) throw invalidArgument('description', 'is longer than 1024 characters');
    const inst = await this.d.instances.ready(tenantId, req.instanceId);
    const module = this.d.catalog.require(inst.datastore, 'backup');
    // Refused before anything is written: an incremental is never silently made full.
    if (req.incremental && !module.capabilities.includes('backup_incremental')) {
      throw failedPrecondition(`datastore ${module.displayName} does not support incremental backups`);
    }
    if (!req.incremental && req.parentId) throw invalidArgument('parent_id', 'is only for incremental backups');
    const parent = req.incremental ? await this.parentFor(inst.id, req.parentId) : undefined;
    const running = await this.d.store
      .selectFrom('backups')
      .select('id')
      .where('instance_id', '=', inst.id)
      .where('status', 'in', [...RUNNING_STATUSES])
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (running) throw failedPrecondition(`backup ${running.id} of instance ${inst.id} is still running`);

    const id = randomUUID();
    const now = nowIso();
    const row: BackupsTable = {
      id,
      tenant_id: inst.tenant_id,
      instance_id: inst.id,
      name,
      description: req.description,
      datastore: inst.datastore,
      datastore_version: '',
      type: parent ? 'INCREMENTAL' : 'FULL',
      parent_id: parent?.id ?? null,
      status: 'NEW',
      message: '',
      operation_id: null,
      size: null,
      raw_size: null,
      checksum: null,
      location: null,
      compression: this.d.compression,
      encryption: null,
      wrapped_key: null,
      key_ref: null,
      facts: '{}',
      storage: storageRecord(this.d.storage),
      created_at: now,
      updated_at: now,
      finished_at: null,
      deleted_at: null,
    };
    // The row exists only if the command was accepted: an agent that is not connected (UNAVAILABLE) leaves nothing.
    const op = await this.d.operations.start(
      inst.id,
      CREATE_BACKUP,
      {
        createBackup: {
          backupId: id,
          type: parent ? BackupType.INCREMENTAL : BackupType.FULL,
          parent: parent ? artifactOf(parent) : undefined,
          storage: this.d.storage,
          key: this.d.keyring.grant(id),
          compression: this.d.compression,
        },
      },
      {
        timeoutMs: BACKUP_TIMEOUT_MS,
        inTransaction: async (trx) => {
          row.status = 'BUILDING';
          await trx.insertInto('backups').values(row).execute();
          await emitBackupEvent(this.d.notifier, trx, 'create', 'start', row);
        },
      },
    );
    row.operation_id = op.id;
    await this.d.store.updateTable('backups').set({ operation_id: op.id }).where('id', '=', id).execute();
    this.d.log.info({ backupId: id, instanceId: inst.id, type: row.type }, 'backup started');
    return row;
  }

  /** The parent named, or the instance's latest COMPLETED backup. */
  private async parentFor(instanceId: string, parentId: string): Promise<BackupsTable> {
    let q = this.d.store
      .selectFrom('backups')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('deleted_at', 'is', null);
    q = parentId ? q.where('id', '=', parentId) : q.where('status', '=', 'COMPLETED').orderBy('created_at', 'desc').limit(1);
    const p = await q.executeTakeFirst();
    if (!p) throw parentId ? notFound(`backup ${parentId} of instance ${instanceId} not found`) : failedPrecondition(`instance ${instanceId} has no completed backup to build an incremental on`);
    if (p.status !== 'COMPLETED') throw failedPrecondition(`backup ${p.id} is ${p.status}: an incremental needs a COMPLETED parent`);
    return p;
  }

  async get(tenantId: string, id: string): Promise<BackupsTable> {
    const row = await this.d.store.selectFrom('backups').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    if (!row || (tenantId !== '*' && row.tenant_id !== tenantId)) throw notFound(`backup ${id} not found`);
    return row;
  }

  async list(tenantId: string, instanceId = ''): Promise<BackupsTable[]> {
    let q = this.d.store.selectFrom('backups').selectAll().where('deleted_at', 'is', null);
    if (tenantId !== '*') q = q.where('tenant_id', '=', tenantId);
    if (instanceId) q = q.where('instance_id', '=', instanceId);
    return q.orderBy('created_at').execute();
  }

  /** While it runs: SAVING once the agent reports stored bytes, with the bytes read so far. */
  async live(b: BackupsTable): Promise<{ status?: BackupStatusName; bytesDone?: number }> {
    if (b.status !== 'BUILDING' || !b.operation_id) return {};
    const op = await this.d.operations.get(b.operation_id).catch(() => undefined);
    if (!op || op.state !== OperationState.RUNNING) return {};
    const bytesDone = bytesFromProgress(op.message);
    // "streaming: 0.0 MiB" already means bytes are on their way to storage.
    return { status: bytesDone !== undefined ? 'SAVING' : 'BUILDING', bytesDone };
  }

  /**
   * Deletes a backup's objects and record. One with incrementals built on it is
   * refused unless `chain`, which deletes them too, children first.
   */
  async delete(tenantId: string, id: string, chain: boolean): Promise<string[]> {
    const b = await this.get(tenantId, id);
    if (RUNNING_STATUSES.includes(b.status as BackupStatusName)) throw failedPrecondition(`backup ${id} is ${b.status}: wait for it to finish`);
    const family = await this.d.store.selectFrom('backups').select(['id', 'parent_id', 'status', 'deleted_at']).where('instance_id', '=', b.instance_id).execute();
    const children = descendantsDeepestFirst(id, family);
    if (children.length && !chain) {
      throw failedPrecondition(`backup ${id} has ${children.length} incremental backup(s) built on it (${children.join(', ')}); delete those first or delete the chain`);
    }
    const running = family.filter((f) => children.includes(f.id) && RUNNING_STATUSES.includes(f.status as BackupStatusName));
    if (running.length) throw failedPrecondition(`backup ${running[0].id} in the chain is still running`);
    const deleted: string[] = [];
    for (const victim of [...children, id]) {
      await this.deleteOne(victim);
      deleted.push(victim);
    }
    return deleted;
  }

  private async deleteOne(id: string): Promise<void> {
    const b = await this.d.store.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await this.d.notifier.transaction(this.d.store, (trx) => emitBackupEvent(this.d.notifier, trx, 'delete', 'start', b));
    const storage = openStorage(storageFromRecord(b.storage, this.d.storage));
    try {
      await discardBackup(storage, b.instance_id, b.id);
    } catch (err) {
      const message = `its objects could not be removed: ${(err as Error).message}`;
      await this.d.notifier.transaction(this.d.store, async (trx) => {
        const now = nowIso();
        await trx.updateTable('backups').set({ status: 'DELETE_FAILED', message, updated_at: now }).where('id', '=', id).execute();
        await emitBackupEvent(this.d.notifier, trx, 'delete', 'error', { ...b, status: 'DELETE_FAILED', message, updated_at: now }, message);
      });
      throw failedPrecondition(`backup ${id}: ${message}`);
    } finally {
      storage.close();
    }
    await this.d.notifier.transaction(this.d.store, async (trx) => {
      const now = nowIso();
      await trx.updateTable('backups').set({ deleted_at: now, updated_at: now }).where('id', '=', id).execute();
      await emitBackupEvent(this.d.notifier, trx, 'delete', 'end', { ...b, updated_at: now });
    });
  }

  /**
   * "Create instance from backup": the restore payload for prepare, refused up
   * front when the backup is not restorable into the requested datastore/version.
   */
  async restoreCommand(tenantId: string, backupId: string, datastore: string, version: string): Promise<RestoreBackupCommand> {
    const b = await this.get(tenantId, backupId);
    checkRestorable(b, datastore, version);
    const family = await this.d.store.selectFrom('backups').selectAll().where('instance_id', '=', b.instance_id).execute();
    const chain = chainTo(backupId, new Map(family.map((f) => [f.id, f])));
    return {
      storage: storageFromRecord(b.storage, this.d.storage),
      chain: chain.map((c) => ({ artifact: artifactOf(c), key: this.d.keyring.grant(c.id, c.key_ref ?? undefined) })),
    };
  }

  private async onOperationFinishing(trx: Store, op: OperationsTable): Promise<void> {
    if (op.kind !== CREATE_BACKUP) return;
    const b = await trx.selectFrom('backups').selectAll().where('operation_id', '=', op.id).executeTakeFirst();
    if (!b || !RUNNING_STATUSES.includes(b.status as BackupStatusName)) return;
    const now = nowIso();
    let patch: Partial<BackupsTable>;
    if (op.state === OperationState.SUCCEEDED) {
      const artifact = op.result ? (OperationResult.decode(op.result) as OperationResult & { backup?: BackupArtifact }).backup : undefined;
      const problem = verifyArtifact(b, artifact);
      patch = problem ? { status: 'FAILED', message: problem } : { ...completion(artifact!), status: 'COMPLETED', message: '' };
    } else {
      const why = op.error_message || op.message || 'failed';
      patch = { status: 'FAILED', message: op.state === OperationState.CANCELLED ? `cancelled: ${why}` : why };
    }
    const next = { ...b, ...patch, updated_at: now };
    await trx.updateTable('backups').set({ ...patch, updated_at: now }).where('id', '=', b.id).execute();
    await emitBackupEvent(this.d.notifier, trx, 'create', next.status === 'COMPLETED' ? 'end' : 'error', next, next.message);
  }

  /** After a failure has committed: remove whatever the attempt left in storage (the agent may be dead). */
  private async onOperationFinished(op: OperationsTable): Promise<void> {
    if (op.kind !== CREATE_BACKUP || op.state === OperationState.SUCCEEDED) return;
    const b = await this.d.store.selectFrom('backups').selectAll().where('operation_id', '=', op.id).executeTakeFirst();
    if (!b || b.status !== 'FAILED') return;
    const storage = openStorage(storageFromRecord(b.storage, this.d.storage));
    try {
      await discardBackup(storage, b.instance_id, b.id);
    } catch (err) {
      this.d.log.warn({ backupId: b.id, err: (err as Error).message }, 'could not remove the objects of a failed backup');
    } finally {
      storage.close();
    }
  }
}

/** An agent's SUCCEEDED is believed only when its artifact is the backup asked for and complete. */
export function verifyArtifact(b: BackupsTable, a: BackupArtifact | undefined): string | undefined {
  if (!a) return 'the agent reported success without describing what it stored';
  if (a.backupId !== b.id || a.instanceId !== b.instance_id) return `the agent reported backup ${a.backupId} of ${a.instanceId}, not ${b.id}`;
  if (!/^sha256:[0-9a-f]{64}$/.test(a.checksum)) return 'the agent reported no checksum';
  if (!a.location || !a.wrappedKey?.length) return 'the agent reported no location or key';
  if ((a.parentId || null) !== b.parent_id) return `the agent built on ${a.parentId || 'nothing'}, not ${b.parent_id ?? 'nothing'}`;
  return undefined;
}
