// Datastore logs through the controller: listing, switching and reading are
// agent operations on the instance; publishing is an operation that streams
// a redacted, encrypted copy into the backup storage, recorded here (PUBLISHING
// when accepted, PUBLISHED or FAILED when the operation ends) until it is
// discarded, which removes the objects first and the record after.
import { randomUUID } from 'node:crypto';
import type { GuestLog, GuestLogTail } from '../../proto/gen/steward/v1/log-types.js';
import type { PublishedLog } from '../../proto/gen/steward/v1/logs.js';
import type { BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { discardBackup } from '../../managers/sdk/backup/pipeline.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import { failedPrecondition } from '../../managers/sdk/errors.js';
import { checkLogName } from '../../managers/sdk/guest-logs.js';
import type { Logger } from '../../managers/sdk/logger.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { OperationState } from '../../managers/sdk/operations/state.js';
import type { BackupKeyring } from '../backups/keyring.js';
import type { DatastoreCatalog } from '../catalog.js';
import { nowIso } from '../clock.js';
import type { InstanceService } from '../instances.js';
import { storedResult, type OperationService } from '../operations.js';
import type { Store } from '../store/open.js';
import type { InstancesTable, OperationsTable } from '../store/schema.js';
import { canSee, type CallerScope } from '../tenancy.js';
import type { PublishedLogsTable } from './schema.js';
import { notFound } from '../../managers/sdk/errors.js';

export interface LogDeps {
  store: Store;
  catalog: DatastoreCatalog;
  operations: OperationService;
  instances: InstanceService;
  storage: BackupStorage;
  keyring: BackupKeyring;
  compression: string;
  log: Logger;
}

export class LogService {
  constructor(private readonly d: LogDeps) {
    d.operations.onChange((trx, op, moment) => this.onOperation(trx, op, moment));
  }

  private async instance(scope: CallerScope, id: string, ready = false): Promise<InstancesTable> {
    const inst = ready ? await this.d.instances.ready(scope, id) : await this.d.instances.get(scope, id);
    this.d.catalog.require(inst.datastore, 'logs');
    return inst;
  }

  /** The instance's logs as its agent sees them, with how many published copies each has. */
  async list(scope: CallerScope, instanceId: string): Promise<GuestLog[]> {
    const inst = await this.instance(scope, instanceId);
    const logs = resultOf(await this.d.operations.call(inst.id, payload('listLogs', {})), 'logs')?.logs ?? [];
    const counts = await this.d.store
      .selectFrom('published_logs')
      .select(['name', (eb) => eb.fn.countAll<number>().as('n')])
      .where('instance_id', '=', inst.id)
      .where('deleted_at', 'is', null)
      .where('status', '=', 'PUBLISHED')
      .groupBy('name')
      .execute();
    const published = new Map(counts.map((c) => [c.name, Number(c.n)]));
    return logs.map((l) => ({ ...l, published: published.get(l.name) ?? 0 }));
  }

  async switchLog(scope: CallerScope, instanceId: string, name: string, on: boolean, thresholdMs: number): Promise<OperationsTable> {
    const inst = await this.instance(scope, instanceId, true);
    const p = { name, thresholdMs: on ? thresholdMs : 0, lines: 0 };
    return this.d.operations.start(inst.id, on ? payload('enableLog', p) : payload('disableLog', p));
  }

  async show(scope: CallerScope, instanceId: string, name: string, lines: number): Promise<GuestLogTail> {
    const inst = await this.instance(scope, instanceId);
    return resultOf(await this.d.operations.call(inst.id, payload('showLog', { name, thresholdMs: 0, lines })), 'logTail')!;
  }

  /** Records the copy PUBLISHING in the transaction that accepts its operation: an operation refused leaves no record. */
  async publish(scope: CallerScope, instanceId: string, name: string): Promise<{ published: PublishedLogsTable; operation: OperationsTable }> {
    const inst = await this.instance(scope, instanceId, true);
    checkLogName(name);
    const id = randomUUID();
    const now = nowIso();
    const row: PublishedLogsTable = {
      id,
      tenant_id: inst.tenant_id,
      instance_id: inst.id,
      name,
      status: 'PUBLISHING',
      message: '',
      operation_id: '',
      size: 0,
      raw_size: 0,
      checksum: '',
      location: '',
      compression: this.d.compression,
      encryption: '',
      wrapped_key: null,
      key_ref: '',
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    const operation = await this.d.operations.start(
      inst.id,
      payload('publishLog', { name, publishId: id, storage: this.d.storage, key: this.d.keyring.grant(id), compression: this.d.compression }),
      {
        inTransaction: async (trx, op) => {
          row.operation_id = op.id;
          await trx.insertInto('published_logs').values(row).execute();
        },
      },
    );
    this.d.log.info({ instanceId: inst.id, log: name, publishId: id, operationId: operation.id }, 'log publish started');
    return { published: row, operation };
  }

  async listPublished(scope: CallerScope, instanceId: string, name: string): Promise<PublishedLogsTable[]> {
    const inst = await this.instance(scope, instanceId);
    let q = this.d.store.selectFrom('published_logs').selectAll().where('instance_id', '=', inst.id).where('deleted_at', 'is', null);
    if (name) q = q.where('name', '=', checkLogName(name));
    return q.orderBy('created_at').execute();
  }

  async get(scope: CallerScope, id: string): Promise<PublishedLogsTable> {
    const row = await this.d.store.selectFrom('published_logs').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    if (!row || !canSee(scope, row.tenant_id)) throw notFound(`published log ${id.slice(0, 64)} not found`);
    return row;
  }

  /** The objects go first: a record is never dropped while its copy may still be in storage. */
  async discard(scope: CallerScope, id: string): Promise<PublishedLogsTable> {
    const row = await this.get(scope, id);
    if (row.status === 'PUBLISHING') throw failedPrecondition(`published log ${id} is still being published (operation ${row.operation_id})`);
    const storage = openStorage(this.d.storage);
    try {
      await discardBackup(storage, row.instance_id, row.id);
    } finally {
      storage.close();
    }
    const deletedAt = nowIso();
    await this.d.store.updateTable('published_logs').set({ deleted_at: deletedAt, updated_at: deletedAt }).where('id', '=', id).execute();
    return { ...row, deleted_at: deletedAt };
  }

  toProto(r: PublishedLogsTable): PublishedLog {
    return {
      id: r.id,
      instanceId: r.instance_id,
      name: r.name,
      status: r.status,
      message: r.message,
      size: Number(r.size),
      rawSize: Number(r.raw_size),
      checksum: r.checksum,
      location: r.location,
      operationId: r.operation_id,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  /** A publish's outcome lands on its record in the operation's own transaction. */
  private async onOperation(trx: Store, op: OperationsTable, moment: string): Promise<void> {
    if (op.kind !== 'publish_log' || moment !== 'finished') return;
    const now = nowIso();
    const q = trx.updateTable('published_logs').where('operation_id', '=', op.id).where('status', '=', 'PUBLISHING');
    const a = op.state === OperationState.SUCCEEDED ? resultOf(storedResult(op), 'publishedLog') : undefined;
    if (!a) {
      await q.set({ status: 'FAILED', message: op.error_message ?? op.message, updated_at: now }).execute();
      return;
    }
    await q
      .set({
        status: 'PUBLISHED',
        size: a.size,
        raw_size: a.rawSize,
        checksum: a.checksum,
        location: a.location,
        compression: a.compression,
        encryption: a.encryption,
        wrapped_key: Buffer.from(a.wrappedKey),
        key_ref: a.keyRef,
        updated_at: now,
      })
      .execute();
  }
}
