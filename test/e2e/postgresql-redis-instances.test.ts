// PostgreSQL and Redis end to end through the controller (TLS, real agents,
// real servers): create, user, connect as that user, restart, delete with
// nothing left; the capability matrix refuses before anything is sent.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { createClient } from 'redis';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type DeepPartial, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type Operation, type RootResult, type UserList } from '../../proto/gen/steward/v1/common.js';
import { pidsMentioning } from '../../controller/provisioner/processes.js';
import { BackupStatus, CreateBackupApiRequest, type Backup, type ListBackupsResponse } from '../../proto/gen/steward/v1/backups.js';
import { postgresqlUnavailableReason } from '../fixtures/postgresql-instance.js';
import { redisUnavailableReason } from '../fixtures/redis-instance.js';

const pgMissing = await postgresqlUnavailableReason();
const redisMissing = await redisUnavailableReason();
if (pgMissing) console.warn(`SKIPPING PostgreSQL end-to-end tests: ${pgMissing}`);
if (redisMissing) console.warn(`SKIPPING Redis end-to-end tests: ${redisMissing}`);

let t: TestController;
beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => t?.close());

async function createHealthy(req: DeepPartial<CreateInstanceRequest>): Promise<Instance> {
  const res = await call<object, CreateInstanceResponse>(t.clients.instances, 'create', CreateInstanceRequest.fromPartial(req));
  const op = await call<object, Operation>(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 180_000 });
  expect(op.error).toBeUndefined();
  expect(op.state).toBe(OperationState.SUCCEEDED);
  return waitFor('HEALTHY', async () => {
    const i = await call<object, Instance>(t.clients.instances, 'get', { id: res.instance!.id });
    return i.status === DatastoreStatus.HEALTHY && i.task === InstanceTask.NONE && i;
  });
}

async function restartHealthy(id: string): Promise<void> {
  const op = await call<object, Operation>(t.clients.instances, 'restart', { id });
  expect((await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 120_000 })).state).toBe(OperationState.SUCCEEDED);
  await waitFor('HEALTHY after restart', async () => {
    const i = await call<object, Instance>(t.clients.instances, 'get', { id });
    return i.status === DatastoreStatus.HEALTHY && i.task === InstanceTask.NONE;
  });
}

async function backupCompleted(instanceId: string, incremental: boolean): Promise<Backup> {
  const name = incremental ? 'incremental' : 'full';
  const started = await call<object, Backup>(t.clients.backups, 'create', CreateBackupApiRequest.fromPartial({ instanceId, name, incremental }));
  const done = await waitFor(
    `${name} backup COMPLETED`,
    async () => {
      const b = await call<object, Backup>(t.clients.backups, 'get', { id: started.id });
      if (b.status === BackupStatus.FAILED) throw new Error(b.message);
      return b.status === BackupStatus.COMPLETED && b;
    },
    120_000,
  );
  expect(done.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
  return done;
}

async function deleteAndCheckGone(id: string): Promise<void> {
  const dir = t.controller.provisioner.stateDirOf(id);
  await call(t.clients.instances, 'delete', { id });
  await waitFor(
    'instance gone',
    () =>
      call(t.clients.instances, 'get', { id }).then(
        () => false,
        (e) => e.code === status.NOT_FOUND,
      ),
    120_000,
  );
  expect(pidsMentioning(dir)).toEqual([]);
  expect(existsSync(dir)).toBe(false);
}

describe.skipIf(!!pgMissing)('PostgreSQL instance end to end', () => {
  let inst: Instance;
  const PW = 'Pg-app-pass-93kd';
  const connect = (user: string, password: string, database: string, target: Instance = inst) => {
    const c = new pg.Client({
      host: target.host,
      port: target.port,
      user,
      password,
      database,
      ssl: { ca: readFileSync(t.controller.caFile, 'utf8'), rejectUnauthorized: true }, // TLS required and verified
    });
    return c.connect().then(() => c);
  };

  it('creates an instance with a database and a user who connects over verified TLS and writes', async () => {
    inst = await createHealthy({
      name: 'pg-1',
      datastore: 'postgresql',
      memoryMb: 256,
      databases: [{ name: 'appdb' }],
      users: [{ name: 'app', password: PW, access: [{ database: 'appdb' }] }],
    });
    expect(inst.datastoreVersion).toMatch(/^15/);
    const c = await connect('app', PW, 'appdb');
    expect((await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl).toBe(true);
    await c.query('CREATE TABLE notes (id int primary key, body text)');
    await c.query('INSERT INTO notes VALUES ($1, $2)', [1, 'kept']);
    await c.end();
    const users = await call<object, UserList>(t.clients.users, 'list', { instanceId: inst.id });
    expect(users.users.map((u) => u.name)).toEqual(['app']);
  });

  it('backs up (full, then incremental from archived WAL) and restores the chain into a new instance to its point', async () => {
    const c = await connect('app', PW, 'appdb');
    await c.query('CREATE TABLE events (id int primary key, body text)');
    await c.query('INSERT INTO events VALUES ($1, $2)', [1, 'in the full']);
    const full = await backupCompleted(inst.id, false);
    await c.query('INSERT INTO events VALUES ($1, $2)', [2, 'in the incremental']);
    const incr = await backupCompleted(inst.id, true);
    expect(incr.parentId).toBe(full.id);
    await c.query('INSERT INTO events VALUES ($1, $2)', [3, 'after the backups']);
    await c.end();
    const restored = await createHealthy({ name: 'pg-restored', datastore: 'postgresql', memoryMb: 256, backupId: incr.id });
    const r = await connect('app', PW, 'appdb', restored); // roles come with the data
    expect((await r.query('SELECT id, body FROM events ORDER BY id')).rows).toEqual([
      { id: 1, body: 'in the full' },
      { id: 2, body: 'in the incremental' },
    ]);
    expect((await r.query('SELECT body FROM notes')).rows).toEqual([{ body: 'kept' }]);
    await r.end();
    await deleteAndCheckGone(restored.id);
  });

  it('enables root (the postgres superuser over TCP), restarts, keeps the data, deletes cleanly', async () => {
    const root = await call<object, RootResult>(t.clients.root, 'enable', { id: inst.id });
    expect(root.user).toBe('postgres');
    const c = await connect('postgres', root.password, 'appdb');
    expect((await c.query('SELECT count(*)::int AS n FROM notes')).rows[0].n).toBe(1);
    await c.end();
    await restartHealthy(inst.id);
    const again = await connect('app', PW, 'appdb');
    expect((await again.query('SELECT body FROM notes')).rows).toEqual([{ body: 'kept' }]);
    await again.end();
    await deleteAndCheckGone(inst.id);
  });
});

describe.skipIf(!!redisMissing)('Redis instance end to end', () => {
  let inst: Instance;

  it('creates an instance, a read-write ACL user who can write, and refuses databases before sending anything', async () => {
    inst = await createHealthy({ name: 'redis-1', datastore: 'redis', memoryMb: 256 });
    const op = await call<object, Operation>(t.clients.users, 'create', {
      instanceId: inst.id,
      users: [{ name: 'cache', password: 'Redis-pass-8812', host: '', access: [], permissions: 'read-write' }],
    });
    expect((await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 60_000 })).state).toBe(OperationState.SUCCEEDED);
    const client = createClient({ socket: { host: inst.host, port: inst.port }, username: 'cache', password: 'Redis-pass-8812' });
    await client.connect();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    await expect(client.sendCommand(['FLUSHALL'])).rejects.toThrow(/NOPERM|permission/i);
    await client.quit();

    const before = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id })).operations.length;
    await expect(
      call(t.clients.databases, 'create', { instanceId: inst.id, databases: [{ name: 'x', characterSet: '', collation: '', ctype: '', replication: {} }] }),
    ).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('Redis') });
    await expect(call(t.clients.databases, 'list', { instanceId: inst.id })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    await expect(
      call(t.clients.users, 'create', {
        instanceId: inst.id,
        users: [{ name: 'evil', password: 'Redis-pass-8812', host: '', access: [], permissions: '+@all' }],
      }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('permissions') });
    const after = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id })).operations.length;
    expect(after).toBe(before);
  });

  it('refuses an incremental backup before anything is recorded; a full one restores into a new instance', async () => {
    const before = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id })).operations.length;
    await expect(
      call(t.clients.backups, 'create', CreateBackupApiRequest.fromPartial({ instanceId: inst.id, name: 'incr', incremental: true })),
    ).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('incremental') });
    expect((await call<object, ListBackupsResponse>(t.clients.backups, 'list', { instanceId: inst.id })).backups).toEqual([]);
    expect((await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id })).operations.length).toBe(before);
    expect(existsSync(join(t.dataDir, 'backups', inst.id))).toBe(false);

    const done = await backupCompleted(inst.id, false);
    const restored = await createHealthy({ name: 'redis-restored', datastore: 'redis', memoryMb: 256, backupId: done.id });
    const root = await call<object, RootResult>(t.clients.root, 'enable', { id: restored.id });
    const client = createClient({ socket: { host: restored.host, port: restored.port }, username: 'default', password: root.password });
    await client.connect();
    expect(await client.get('k')).toBe('v');
    await client.quit();
    await deleteAndCheckGone(restored.id);
  });

  it('restarts with the data kept, enables root for the default user, deletes cleanly', async () => {
    await restartHealthy(inst.id);
    const root = await call<object, RootResult>(t.clients.root, 'enable', { id: inst.id });
    const client = createClient({ socket: { host: inst.host, port: inst.port }, username: 'default', password: root.password });
    await client.connect();
    expect(await client.get('k')).toBe('v');
    await client.quit();
    await deleteAndCheckGone(inst.id);
  });
});
