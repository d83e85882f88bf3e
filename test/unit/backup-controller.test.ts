// The controller's backup records with a real SQLite store, the real
// operation service and notifier, and a fake agent stream that captures the
// commands: refusals leave nothing behind, an agent's failure ends the backup
// FAILED with its objects removed, delete follows the chain rules, and a
// restore names the whole chain with each backup's key.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ControllerMessage } from '../../proto/gen/steward/v1/agent.js';
import { BackupType, CreateBackupApiRequest } from '../../proto/gen/steward/v1/backups.js';
import { asStewardError } from '../../managers/sdk/errors.js';
import { createLogger } from '../../managers/sdk/logger.js';
import { newDataKey, unwrapDataKey, wrapDataKey } from '../../managers/sdk/backup/keys.js';
import { AgentRegistry } from '../../controller/agent-registry.js';
import { OperationService } from '../../controller/operations.js';
import { CommandCodec } from '../../controller/command-codec.js';
import { SecretBox } from '../../controller/secret-box.js';
import { Notifier } from '../../controller/notifications/notifier.js';
import { openSqliteStore, type Store } from '../../controller/store/open.js';
import type { InstanceService } from '../../controller/instances.js';
import type { DatastoreCatalog } from '../../controller/catalog.js';
import { BackupKeyring } from '../../controller/backups/keyring.js';
import { BackupService, verifyArtifact } from '../../controller/backups/service.js';
import { chainTo, checkRestorable, descendantsDeepestFirst } from '../../controller/backups/chain.js';
import { storageOf } from '../../controller/backups/config.js';
import { artifactOf } from '../../controller/backups/records.js';
import { checkSeries, seriesOf } from '../../managers/sdk/backup/strategy.js';
import { mysqlIdentity } from '../../managers/mysql/identity.js';
import { StewardError } from '../../managers/sdk/errors.js';
import { answer, DONE } from '../../managers/sdk/operations/payload.js';
import { updates } from '../../managers/sdk/operations/state.js';
import { canSee, tenantScope, type CallerScope } from '../../controller/tenancy.js';
import { backupRow, instanceRow } from '../fixtures/store-rows.js';

const log = createLogger('test', { level: 'silent' });
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => asStewardError(e).code,
  );

const INSTANCE = instanceRow();
const row = backupRow;

describe('backup chain rules', () => {
  it('lists descendants deepest first and walks a chain root first', () => {
    const all = [row('f', null), row('i1', 'f'), row('i2', 'i1'), row('j1', 'f'), row('gone', 'f', { deleted_at: 'x' }), row('other', null)];
    expect(descendantsDeepestFirst('f', all)).toEqual(['i2', 'i1', 'j1']);
    expect(descendantsDeepestFirst('i2', all)).toEqual([]);
    const byId = new Map(all.map((b) => [b.id, b]));
    expect(chainTo('i2', byId).map((b) => b.id)).toEqual(['f', 'i1', 'i2']);
    byId.set('i1', row('i1', 'f', { status: 'FAILED' }));
    expect(() => chainTo('i2', byId)).toThrow(/i1 in the chain of i2 is FAILED/);
  });

  it('refuses restores into another datastore or version series', () => {
    const b = row('f', null);
    expect(() => checkRestorable(b, 'postgresql', '')).toThrow(/mysql backup and cannot be restored into postgresql/);
    expect(() => checkRestorable(b, 'mysql', '11.4.2')).toThrow(/taken from mysql 10.11; it cannot be restored into 11.4/);
    expect(() => checkRestorable(b, 'mysql', '10.11.6-MariaDB')).not.toThrow();
    expect(() => checkRestorable(b, 'mysql', '')).not.toThrow();
  });

  it('believes an agent only for the backup it was asked for', () => {
    const b = row('f', null);
    const a = artifactOf(b);
    expect(verifyArtifact(b, a)).toBeUndefined();
    expect(verifyArtifact(b, undefined)).toMatch(/without describing/);
    expect(verifyArtifact(b, { ...a, backupId: 'x' })).toMatch(/not f/);
    expect(verifyArtifact(b, { ...a, checksum: '' })).toMatch(/no checksum/);
    expect(verifyArtifact(b, { ...a, parentId: 'p' })).toMatch(/built on p/);
  });

  it('derives one wrapping key per backup from the master key, which opens what an agent wrapped', () => {
    const ring = BackupKeyring.fromKey(randomBytes(32));
    const g1 = ring.grant('b1');
    expect(g1.wrappingKey.length).toBe(32);
    expect(Buffer.from(ring.grant('b1').wrappingKey).equals(g1.wrappingKey)).toBe(true);
    expect(Buffer.from(ring.grant('b2').wrappingKey).equals(g1.wrappingKey)).toBe(false);
    const dk = newDataKey();
    expect(unwrapDataKey(wrapDataKey(dk, g1.wrappingKey, 'b1'), ring.grant('b1').wrappingKey, 'b1').equals(dk)).toBe(true);
    expect(() => ring.grant('b1', 'some-other-key')).toThrow(/not known/);
  });
});

describe('BackupService (SQLite, real operation service, fake agent stream)', () => {
  let store: Store;
  let dir: string;
  let sent: ControllerMessage[];
  let agents: AgentRegistry;
  let svc: BackupService;
  let capabilities: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'steward-bkctl-'));
    store = await openSqliteStore(':memory:');
    await store.insertInto('instances').values(INSTANCE).execute();
    const notifier = new Notifier({ publisherId: 'steward.test', payload: { region: 'r', availabilityZone: null, serviceIds: {} } });
    agents = new AgentRegistry();
    sent = [];
    agents.attach('inst-1', { send: (m) => void sent.push(m), close: () => undefined });
    capabilities = ['backup', 'backup_incremental'];
    const module = () => ({ ...mysqlIdentity, capabilities });
    const catalog = { get: module, require: module } as unknown as DatastoreCatalog;
    const operations = new OperationService(store, agents, catalog, log, notifier, new CommandCodec(SecretBox.loadOrCreate(join(dir, 'secrets.key'))));
    const instances = {
      ready: async (scope: CallerScope, id: string) => {
        if (id !== 'inst-1' || !canSee(scope, 't1')) throw new StewardError('NOT_FOUND', 'nf');
        return INSTANCE;
      },
    } as unknown as InstanceService;
    svc = new BackupService({
      store,
      operations,
      instances,
      catalog,
      keyring: BackupKeyring.fromKey(randomBytes(32)),
      storage: storageOf({ storage: { kind: 'filesystem', path: join(dir, 'store') }, compression: 'zstd' }, dir),
      compression: 'zstd',
      notifier,
      log,
    });
  });
  afterEach(async () => {
    await store.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const outbox = async () => (await store.selectFrom('notification_outbox').select('event_type').orderBy('seq').execute()).map((r) => r.event_type);
  const rows = () => store.selectFrom('backups').selectAll().execute();
  const req = (over: Partial<CreateBackupApiRequest> = {}) => CreateBackupApiRequest.fromPartial({ instanceId: 'inst-1', name: 'nightly', ...over });
  const T1 = tenantScope('t1');
  /** The createBackup payload of the n-th message sent to the agent. */
  const backupCommand = (n = 0) => {
    const m = sent[n].body;
    const p = m?.$case === 'command' ? m.value.payload : undefined;
    if (p?.$case !== 'createBackup') throw new Error('not a backup command');
    return p.value;
  };
  const statusOf = async (id: string) => (await svc.get(T1, id)).status;

  it('sends a full backup command with its own key and records NEW with a backup.create.start', async () => {
    const b = await svc.create(T1, req());
    expect(b.status).toBe('NEW');
    expect(await statusOf(b.id)).toBe('NEW');
    const cmd = backupCommand();
    expect(cmd.backupId).toBe(b.id);
    expect(cmd.type).toBe(BackupType.FULL);
    expect(cmd.key!.wrappingKey.length).toBe(32);
    expect(cmd.storage!.kind).toBe('filesystem');
    expect(await outbox()).toEqual(['backup.create.start']);
    expect(await codeOf(svc.create(T1, req()))).toBe('FAILED_PRECONDITION'); // one at a time per instance
  });

  it('stores each status as the agent reports: NEW, BUILDING, SAVING from the first stored bytes, never back', async () => {
    const b = await svc.create(T1, req());
    const ops = (svc as unknown as { d: { operations: OperationService } }).d.operations;
    await ops.applyUpdate('inst-1', updates.running(b.operation_id!, 0, 'started'));
    expect(await statusOf(b.id)).toBe('BUILDING');
    await ops.applyUpdate('inst-1', updates.running(b.operation_id!, 5, 'streaming', { done: 1_048_576, total: 8_388_608 }));
    expect(await statusOf(b.id)).toBe('SAVING');
    expect((await ops.get(b.operation_id!)).bytes_done).toBe(1_048_576);
    expect(await svc.bytesDone(await svc.get(T1, b.id))).toBe(1_048_576);
    // A later report without bytes (the tool's closing step) does not move it back.
    await ops.applyUpdate('inst-1', updates.running(b.operation_id!, 95, 'fsync and rename'));
    expect(await statusOf(b.id)).toBe('SAVING');
    await ops.applyUpdate('inst-1', updates.succeeded(b.operation_id!, answer('backup', { ...artifactOf(row(b.id, null)), instanceId: 'inst-1' })));
    expect(await statusOf(b.id)).toBe('COMPLETED');
    expect(await outbox()).toEqual(['backup.create.start', 'backup.create.end']);
  });

  it('refuses, and records nothing, an incremental the datastore cannot make, one without a parent, and an unreachable agent', async () => {
    capabilities = ['backup'];
    expect(await codeOf(svc.create(T1, req({ incremental: true })))).toBe('FAILED_PRECONDITION');
    capabilities = ['backup', 'backup_incremental'];
    expect(await codeOf(svc.create(T1, req({ incremental: true })))).toBe('FAILED_PRECONDITION'); // no completed backup yet
    expect(await codeOf(svc.create(T1, req({ parentId: 'x' })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(svc.create(T1, req({ name: '' })))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(svc.create(T1, req({ name: 'a\u202Eb' })))).toBe('INVALID_ARGUMENT'); // a bidi override
    expect(await codeOf(svc.create(tenantScope('t2'), req()))).toBe('NOT_FOUND');
    agents.disconnect('inst-1', 'gone');
    expect(await codeOf(svc.create(T1, req()))).toBe('UNAVAILABLE');
    expect(await rows()).toEqual([]);
    expect(sent).toEqual([]);
    expect(await outbox()).toEqual([]);
  });

  it('an agent failure (e.g. "agent restarted" after kill -9) ends the backup FAILED and removes its partial objects', async () => {
    const b = await svc.create(T1, req());
    const partial = join(dir, 'store', 'inst-1', b.id);
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, '.data.partial-1-abc'), 'half a backup');
    const ops = (svc as unknown as { d: { operations: OperationService } }).d.operations;
    await ops.applyUpdate('inst-1', updates.failed(b.operation_id!, new StewardError('ABORTED', 'agent restarted while create_backup was running'), 40));
    const [after] = await rows();
    expect(after.status).toBe('FAILED');
    expect(after.message).toMatch(/agent restarted/);
    expect(existsSync(partial)).toBe(false);
    expect(await outbox()).toEqual(['backup.create.start', 'backup.create.error']);
    // A SUCCEEDED without an artifact is not believed either.
    const c = await svc.create(T1, req());
    await ops.applyUpdate('inst-1', updates.succeeded(c.operation_id!, DONE));
    expect((await svc.get(T1, c.id)).status).toBe('FAILED');
  });

  it('incrementals hang from the latest completed backup; delete refuses a parent unless asked for the chain', async () => {
    const db = store;
    await db
      .insertInto('backups')
      .values([row('f', null), row('i1', 'f'), row('i2', 'i1')])
      .execute();
    for (const id of ['f', 'i1', 'i2']) {
      mkdirSync(join(dir, 'store', 'inst-1', id), { recursive: true });
      writeFileSync(join(dir, 'store', 'inst-1', id, 'data'), id);
    }
    await db
      .updateTable('backups')
      .set({ storage: JSON.stringify({ kind: 'filesystem', path: join(dir, 'store') }) })
      .execute();
    const inc = await svc.create(T1, req({ incremental: true }));
    const cmd = backupCommand();
    expect(inc.parent_id).toBe('i2');
    expect(cmd.parent!.backupId).toBe('i2');
    expect(cmd.parent!.facts.to_lsn).toBe('1');
    await db.deleteFrom('backups').where('id', '=', inc.id).execute();

    const restore = await svc.restoreCommand(T1, 'i2', 'mysql', '10.11.6');
    expect(restore.chain.map((c) => c.artifact!.backupId)).toEqual(['f', 'i1', 'i2']);
    expect(restore.chain.every((c) => c.key!.wrappingKey.length === 32)).toBe(true);
    expect(await codeOf(svc.restoreCommand(T1, 'i2', 'postgresql', ''))).toBe('FAILED_PRECONDITION');
    expect(await codeOf(svc.restoreCommand(tenantScope('t2'), 'i2', 'mysql', ''))).toBe('NOT_FOUND');

    expect(await codeOf(svc.delete(T1, 'f', false))).toBe('FAILED_PRECONDITION');
    expect((await rows()).filter((r) => r.deleted_at).length).toBe(0);
    expect(existsSync(join(dir, 'store', 'inst-1', 'f', 'data'))).toBe(true);
    expect(await codeOf(svc.delete(tenantScope('t2'), 'i2', false))).toBe('NOT_FOUND');
    expect(await svc.delete(T1, 'i2', false)).toEqual(['i2']);
    expect(await svc.delete(T1, 'f', true)).toEqual(['i1', 'f']);
    expect(existsSync(join(dir, 'store', 'inst-1', 'f'))).toBe(false);
    expect(await svc.list(T1)).toEqual([]);
    expect(await codeOf(svc.get(tenantScope('t2'), 'f'))).toBe('NOT_FOUND');
    expect((await outbox()).filter((e) => e.startsWith('backup.delete'))).toEqual([
      'backup.delete.start',
      'backup.delete.end',
      'backup.delete.start',
      'backup.delete.end',
      'backup.delete.start',
      'backup.delete.end',
    ]);
  });
});

describe('version series of a restore', () => {
  const chainOf = (...versions: string[]) => ({
    storage: undefined,
    chain: versions.map((v, i) => ({ artifact: { backupId: `b${i}`, datastoreVersion: v } as never, key: undefined })),
  });

  it('reads major.minor from what servers and tools print', () => {
    expect(seriesOf('10.11.6-MariaDB-0+deb12u1')).toBe('10.11');
    expect(seriesOf('mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu')).toBe('10.11');
    expect(seriesOf('PostgreSQL 15.14 (Debian 15.14-0+deb12u1)')).toBe('15.14');
    expect(seriesOf('15.14 (Debian 15.14-0+deb12u1)', 'postgresql')).toBe('15'); // one on-disk format per major
    expect(() => checkRestorable({ id: 'p', datastore: 'postgresql', datastore_version: '15.14' }, 'postgresql', '15.18')).not.toThrow();
    expect(() => checkRestorable({ id: 'p', datastore: 'postgresql', datastore_version: '15.14' }, 'postgresql', '16.2')).toThrow(/15.*16/);
    expect(seriesOf('')).toBe('');
  });

  it('refuses a chain from another series before anything is fetched, and accepts the same one', () => {
    expect(() => checkSeries(chainOf('10.11.6-MariaDB', '10.11.6-MariaDB'), 'mariadbd Ver 10.11.19-MariaDB')).not.toThrow();
    expect(() => checkSeries(chainOf('10.6.18-MariaDB'), 'mariadbd Ver 10.11.19-MariaDB')).toThrow(/10\.6.*10\.11/);
    expect(() => checkSeries(chainOf(''), 'mariadbd Ver 10.11.19-MariaDB')).not.toThrow();
  });
});
