// Memory resize end to end with real parts: controller, local provisioner, an
// agent over mutual TLS, a real MariaDB. The new size is read back from the
// server (innodb_buffer_pool_size), the data from a client, the events from
// the notification file checked against the schema; refusals change nothing.
import { status } from '@grpc/grpc-js';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { CreateConfigurationRequest, type ConfigurationGroup } from '../../proto/gen/steward/v1/configurations.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import { fileEvents } from '../fixtures/notifications-file.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING MariaDB resize end-to-end tests: ${unavailable}`);

const PASSWORD = 'Resize-Test-Pw-6612';
const MiB = 1024 * 1024;

describe.skipIf(!!unavailable)('MariaDB memory resize end to end (controller + agent)', () => {
  let t: TestController;
  let inst: Instance;

  const get = () => call<object, Instance>(t.clients.instances, 'get', { id: inst.id });
  const idle = () =>
    waitFor(
      'the instance HEALTHY and idle',
      async () => {
        const i = await get();
        return i.status === DatastoreStatus.HEALTHY && i.task === InstanceTask.NONE && i;
      },
      120_000,
    );
  const wait = (op: Operation) => call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 300_000 });
  const resize = (memoryMb: number) => call<object, Operation>(t.clients.instances, 'resize', { id: inst.id, memoryMb });
  async function server<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const c = await mysql.createConnection({ host: inst.host, port: inst.port, user: 'app', password: PASSWORD, database: 'shop' });
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }
  const bufferPool = () => server(async (c) => Number((await c.query<RowDataPacket[]>('SELECT @@GLOBAL.innodb_buffer_pool_size AS b'))[0][0].b));

  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 40, notifications: { dispatch: { pollMs: 100, retryInitialMs: 100, retryMaxMs: 1_000 } } });
    const created = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({
        name: 'resized',
        datastore: 'mysql',
        memoryMb: 256,
        databases: [{ name: 'shop' }],
        users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
      }),
    );
    expect((await wait(created.operation!)).state).toBe(OperationState.SUCCEEDED);
    inst = await waitFor('the instance', async () => {
      const i = await call<object, Instance>(t.clients.instances, 'get', { id: created.instance!.id });
      return i.status === DatastoreStatus.HEALTHY && i;
    });
    await server(async (c) => {
      await c.query('CREATE TABLE kept (id INT PRIMARY KEY, v VARCHAR(20))');
      await c.query("INSERT INTO kept VALUES (1, 'before'), (2, 'resize')");
    });
  }, 180_000);

  afterAll(async () => {
    await t?.close();
  });

  it('resizes: RESIZING while it runs, the new buffer pool in the server, the data kept, modify_flavor start and end', async () => {
    expect(await bufferPool()).toBe(128 * MiB);
    const op = await resize(384);
    expect((await get()).task).toBe(InstanceTask.RESIZING);
    const done = await wait(op);
    expect(done.error?.message ?? '').toBe('');
    expect(done.state).toBe(OperationState.SUCCEEDED);
    const after = await idle();
    expect(after.memoryMb).toBe(384);
    expect(await bufferPool()).toBe(192 * MiB);
    expect(await server(async (c) => (await c.query<RowDataPacket[]>('SELECT v FROM kept ORDER BY id'))[0].map((r) => r.v))).toEqual(['before', 'resize']);

    const flavor = await waitFor('the modify_flavor events', async () => {
      const e = fileEvents(t).filter((n) => n.event_type.startsWith('trove.instance.modify_flavor') || n.event_type.startsWith('instance.modify_flavor'));
      return e.length >= 2 && e;
    });
    expect(flavor.map((n) => n.event_type.replace(/^trove\./, ''))).toEqual(['instance.modify_flavor.start', 'instance.modify_flavor.end']);
    for (const n of flavor) {
      expect(notificationErrors(n)).toEqual([]);
      expect(n.payload).toMatchObject({ instance_id: inst.id, old_instance_size: 256, instance_size: 384 });
    }
  });

  it('refuses what must not run and changes nothing: the same size, out of range, a group that would not fit', async () => {
    await expect(resize(384)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('already has 384 MB') });
    for (const mb of [0, 64, 2_000_000])
      await expect(resize(mb)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('memory_mb') });
    await expect(call(t.clients.instances, 'resize', { id: 'no-such-instance', memoryMb: 512 })).rejects.toMatchObject({ code: status.NOT_FOUND });

    const group = await call<object, ConfigurationGroup>(
      t.clients.configurations,
      'create',
      CreateConfigurationRequest.fromPartial({ name: 'big-pool', datastore: 'mysql', values: { innodb_buffer_pool_size: String(256 * MiB) } }),
    );
    expect((await wait(await call<object, Operation>(t.clients.configurations, 'attach', { instanceId: inst.id, configurationId: group.id }))).state).toBe(
      OperationState.SUCCEEDED,
    );
    await expect(resize(256)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('innodb_buffer_pool_size') });
    const unchanged = await get();
    expect(unchanged.memoryMb).toBe(384);
    expect(unchanged.task).toBe(InstanceTask.NONE);
    expect(await bufferPool()).toBe(256 * MiB);
  });

  it('resizes back down once the group fits; the group stays in force over the new size', async () => {
    await wait(await call<object, Operation>(t.clients.configurations, 'detach', { id: inst.id }));
    const done = await wait(await resize(256));
    expect(done.state, done.error?.message).toBe(OperationState.SUCCEEDED);
    expect((await idle()).memoryMb).toBe(256);
    expect(await bufferPool()).toBe(128 * MiB);
  });
});
