// Backup records and their workflow. A backup is a row whose status moves
// along status.ts (NEW -> BUILDING -> SAVING -> COMPLETED | FAILED,
// DELETE_FAILED) plus the agent operation that makes it ("create_backup").
// The row moves with the operation inside the operation's own transactions
// (accepted, progressed, finished), so a controller restart, a lost agent, a
// killed agent (reported "agent restarted") or a deleted instance all end a
// running backup FAILED through the one path every operation outcome takes;
// its partial objects are then removed from storage.
import { randomUUID } from 'node:crypto';
import { OperationState } from '../../managers/sdk/operations/state.js';
import { OPERATIONS } from '../../managers/sdk/operations/table.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { BackupType, type BackupArtifact, type CreateBackupApiRequest, type RestoreBackupCommand } from '../../proto/gen/steward/v1/backups.js';
import { failedPrecondition, invalidArgument, notFound } from '../../managers/sdk/errors.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { discardBackup } from '../../managers/sdk/backup/pipeline.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import type { BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import type { DatastoreCatalog } from '../catalog.js';
import type { InstanceService } from '../instances.js';
import type { Notifier } from '../notifications/notifier.js';
import { storedResult, type OperationService } from '../operations.js';
import type { Store } from '../store/open.js';
import type { OperationsTable } from '../store/schema.js';
import { nowIso } from '../clock.js';
import { checkRestorable, chainTo, descendantsDeepestFirst } from './chain.js';
import { storageFromRecord, storageRecord } from './config.js';
import { emitBackupEvent } from './events.js';
import type { BackupKeyring } from './keyring.js';
import { artifactOf, completion } from './records.js';
import type { BackupsTable } from './schema.js';
import { backupTransitions, isBackupRunning, RUNNING_STATUSES, type BackupPatch } from './status.js';
import { checkDescription, checkDisplayName } from '../names.js';
import { findVisible, visibleRows, type CallerScope } from '../tenancy.js';

const CREATE_BACKUP = OPERATIONS.createBackup.kind;

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
    d.operations.onChange((trx, op, moment) => (op.kind === CREATE_BACKUP && moment !== 'accepted' ? this.onOperation(trx, op, moment) : Promise.resolve()));
    d.operations.onFinished((op) => this.onOperationFinished(op));
  }

  async create(scope: CallerScope, req: CreateBackupApiRequest): Promise<BackupsTable> {
    const name = checkDisplayName(req.name, 'name');
    checkDescription(req.description, 'description');
    const inst = await this.d.instances.ready(scope, req.instanceId);
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
      configuration_id: inst.configuration_id,
    };
    // The row exists only if the command was accepted: an agent that is not connected (UNAVAILABLE) leaves nothing.
    const op = await this.d.operations.start(
      inst.id,
      payload('createBackup', {
        backupId: id,
        type: parent ? BackupType.INCREMENTAL : BackupType.FULL,
        parent: parent ? artifactOf(parent) : undefined,
        storage: this.d.storage,
        key: this.d.keyring.grant(id),
        compression: this.d.compression,
      }),
      {
        inTransaction: async (trx, opRow) => {
          row.operation_id = opRow.id;
          await trx.insertInto('backups').values(row).execute();
          await emitBackupEvent(this.d.notifier, trx, 'create', 'start', row);
        },
      },
    );
    this.d.log.info({ backupId: id, instanceId: inst.id, type: row.type, operationId: op.id }, 'backup started');
    return row;
  }

  /** The parent named, or the instance's latest COMPLETED backup. */
  private async parentFor(instanceId: string, parentId: string): Promise<BackupsTable> {
    let q = this.d.store.selectFrom('backups').selectAll().where('instance_id', '=', instanceId).where('deleted_at', 'is', null);
    q = parentId ? q.where('id', '=', parentId) : q.where('status', '=', 'COMPLETED').orderBy('created_at', 'desc').limit(1);
    const p = await q.executeTakeFirst();
    if (!p)
      throw parentId
        ? notFound(`backup ${parentId} of instance ${instanceId} not found`)
        : failedPrecondition(`instance ${instanceId} has no completed backup to build an incremental on`);
    if (p.status !== 'COMPLETED') throw failedPrecondition(`backup ${p.id} is ${p.status}: an incremental needs a COMPLETED parent`);
    return p;
  }

  get(scope: CallerScope, id: string): Promise<BackupsTable> {
    return findVisible(this.d.store, 'backups', id, scope, 'backup');
  }

  async list(scope: CallerScope, instanceId = ''): Promise<BackupsTable[]> {
    const q = visibleRows(this.d.store, 'backups', scope);
    return (instanceId ? q.where('instance_id', '=', instanceId) : q).orderBy('created_at').execute();
  }

  /** While a backup runs: the native bytes read so far, as its operation last reported them. */
  async bytesDone(b: BackupsTable): Promise<number | undefined> {
    if (!isBackupRunning(b.status) || !b.operation_id) return undefined;
    const op = await this.d.operations.get(b.operation_id).catch(() => undefined);
    return op ? Number(op.bytes_done) : undefined;
  }

  /**
   * Deletes a backup's objects and record. One with incrementals built on it is
   * refused unless `chain`, which deletes them too, children first.
   */
  async delete(scope: CallerScope, id: string, chain: boolean): Promise<string[]> {
    const b = await this.get(scope, id);
    if (isBackupRunning(b.status)) throw failedPrecondition(`backup ${id} is ${b.status}: wait for it to finish`);
    const family = await this.d.store
      .selectFrom('backups')
      .select(['id', 'parent_id', 'status', 'deleted_at'])
      .where('instance_id', '=', b.instance_id)
      .execute();
    const children = descendantsDeepestFirst(id, family);
    if (children.length && !chain) {
      throw failedPrecondition(
        `backup ${id} has ${children.length} incremental backup(s) built on it (${children.join(', ')}); delete those first or delete the chain`,
      );
    }
    const running = family.filter((f) => children.includes(f.id) && isBackupRunning(f.status));
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
        const next = await this.apply(trx, b, backupTransitions.deleteFailed(b, message));
        await emitBackupEvent(this.d.notifier, trx, 'delete', 'error', next, message);
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
  async restoreCommand(scope: CallerScope, backupId: string, datastore: string, version: string): Promise<RestoreBackupCommand> {
    const b = await this.get(scope, backupId);
    checkRestorable(b, datastore, version);
    const family = await this.d.store.selectFrom('backups').selectAll().where('instance_id', '=', b.instance_id).execute();
    const chain = chainTo(backupId, new Map(family.map((f) => [f.id, f])));
    return {
      storage: storageFromRecord(b.storage, this.d.storage),
      chain: chain.map((c) => ({ artifact: artifactOf(c), key: this.d.keyring.grant(c.id, c.key_ref ?? undefined) })),
    };
  }

  /** The backup follows its operation: started, bytes stored, finished (its event in the same transaction). */
  private async onOperation(trx: Store, op: OperationsTable, moment: 'progressed' | 'finished'): Promise<void> {
    const b = await trx.selectFrom('backups').selectAll().where('operation_id', '=', op.id).executeTakeFirst();
    if (!b || !isBackupRunning(b.status)) return;
    if (moment === 'progressed') {
      const patch = Number(op.bytes_done) > 0 ? backupTransitions.saving(b) : backupTransitions.started(b);
      if (patch) await this.apply(trx, b, patch);
      return;
    }
    let patch: BackupPatch;
    if (op.state === OperationState.SUCCEEDED) {
      const artifact = resultOf(storedResult(op), 'backup');
      const problem = verifyArtifact(b, artifact);
      patch = problem ? backupTransitions.failed(b, problem) : backupTransitions.completed(b, completion(artifact!));
    } else {
      const why = op.error_message || op.message || 'failed';
      patch = backupTransitions.failed(b, op.state === OperationState.CANCELLED ? `cancelled: ${why}` : why);
    }
    const next = await this.apply(trx, b, patch);
    await emitBackupEvent(this.d.notifier, trx, 'create', next.status === 'COMPLETED' ? 'end' : 'error', next, next.message);
  }

  /** Writes a transition, guarded by the status it was computed from (a concurrent move wins and this one is dropped). */
  private async apply(trx: Store, b: BackupsTable, patch: BackupPatch): Promise<BackupsTable> {
    await trx.updateTable('backups').set(patch).where('id', '=', b.id).where('status', '=', b.status).execute();
    return { ...b, ...patch };
  }

  /** After a failure has committed: remove whatever the attempt left in storage (the agent may be dead). */
  private async onOperationFinished(op: OperationsTable): Promise<void> {
    if (op.kind !== CREATE_BACKUP || op.state === OperationState.SUCCEEDED) return;
    const b = await this.d.store.selectFrom('backups').selectAll().where('operation_id', '=', op.id).executeTakeFirst();
    if (b?.status !== 'FAILED') return;
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
