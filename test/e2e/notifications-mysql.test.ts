// User, database and root events from the real flows on a real MariaDB/MySQL
// instance (the local provisioner, a real agent, the `process` service
// backend): each .start, .end and .error, validated against the schema, in the
// JSON-lines file and (when RabbitMQ is installed) at an amqplib consumer.
// Passwords never appear in any event.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import { fileEvents } from '../fixtures/notifications-file.js';
import { consumeNotifications, rabbitmqUnavailableReason, startRabbitMq, type NotificationConsumer, type RabbitMq } from '../fixtures/rabbitmq.js';
import {
  CreateDatabasesApiRequest,
  CreateInstanceRequest,
  CreateUsersApiRequest,
  DeleteDatabaseApiRequest,
  UserApiRequest,
  type CreateInstanceResponse,
  type Instance,
} from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation, type RootResult } from '../../proto/gen/steward/v1/common.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import { codeOfNumber } from '../../managers/sdk/errors.js';

const noMysql = await mysqlUnavailableReason();
if (noMysql) console.warn(`SKIPPING MySQL notification tests: ${noMysql}`);
const noRabbit = rabbitmqUnavailableReason();
if (noRabbit) console.warn(`MySQL notification tests run WITHOUT the AMQP sink: ${noRabbit}`);
const EXCHANGE = 'steward-mysql-e2e';
const USER_PASSWORD = 'Notif-pw-8472-secret';

describe.skipIf(!!noMysql)('notifications from user, database and root flows (real MariaDB/MySQL)', () => {
  let rabbit: RabbitMq | undefined;
  let consumer: NotificationConsumer | undefined;
  let t: TestController;
  let id: string;
  let rootPassword = '';
  let version = '';

  beforeAll(async () => {
    if (!noRabbit) {
      rabbit = await startRabbitMq();
      consumer = await consumeNotifications(rabbit.url, EXCHANGE);
    }
    t = await startTestController({
      notifications: {
        amqp: rabbit ? { enabled: true, url: rabbit.url, exchange: EXCHANGE, durable: true } : { enabled: false },
        dispatch: { pollMs: 200, retryInitialMs: 100, retryMaxMs: 1_000 },
      },
    });
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'notif-mysql', datastore: 'mysql', memoryMb: 256 }),
    );
    id = res.instance!.id;
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 180_000 });
    expect(op.state, op.error?.message).toBe(OperationState.SUCCEEDED);
    // The version is what the agent's probe reports; events carry it once known.
    version = await waitFor('the probed version', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).datastoreVersion);
  });
  afterAll(async () => {
    await t?.close();
    await consumer?.close();
    await rabbit?.close();
  });

  const finish = async (op: Operation) => call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 60_000 });
  const succeeds = async (p: Promise<Operation>) => expect((await finish(await p)).state).toBe(OperationState.SUCCEEDED);
  const fails = async (p: Promise<Operation>, code: string) => expect(codeOfNumber((await finish(await p)).error?.code ?? 0)).toBe(code);
  const user = { name: 'notif_app', host: '%' };

  it('raises start/end for each change and start/error for each refused one; reads raise nothing', async () => {
    const before = (await t.controller.store.selectFrom('notification_outbox').select('seq').execute()).length;
    const createUser = () =>
      call<object, Operation>(t.clients.users, 'create', CreateUsersApiRequest.fromPartial({ instanceId: id, users: [{ ...user, password: USER_PASSWORD }] }));
    const deleteUser = () => call<object, Operation>(t.clients.users, 'delete', UserApiRequest.fromPartial({ instanceId: id, user }));
    const createDb = () =>
      call<object, Operation>(t.clients.databases, 'create', CreateDatabasesApiRequest.fromPartial({ instanceId: id, databases: [{ name: 'notif_shop' }] }));
    const deleteDb = () => call<object, Operation>(t.clients.databases, 'delete', DeleteDatabaseApiRequest.fromPartial({ instanceId: id, name: 'notif_shop' }));

    await succeeds(createUser());
    await fails(createUser(), 'ALREADY_EXISTS');
    await call(t.clients.users, 'list', { instanceId: id }); // a read
    await succeeds(deleteUser());
    await fails(deleteUser(), 'NOT_FOUND');
    await succeeds(createDb());
    await fails(createDb(), 'ALREADY_EXISTS');
    await call(t.clients.databases, 'list', { instanceId: id }); // a read
    await succeeds(deleteDb());
    await fails(deleteDb(), 'NOT_FOUND');
    rootPassword = (await call<object, RootResult>(t.clients.root, 'enable', { id })).password;
    expect(rootPassword).not.toBe('');
    await call(t.clients.root, 'status', { id }); // a read

    const expected = [
      'user.create.start',
      'user.create.end',
      'user.create.start',
      'user.create.error',
      'user.delete.start',
      'user.delete.end',
      'user.delete.start',
      'user.delete.error',
      'database.create.start',
      'database.create.end',
      'database.create.start',
      'database.create.error',
      'database.delete.start',
      'database.delete.end',
      'database.delete.start',
      'database.delete.error',
      'root.enable.start',
      'root.enable.end',
    ];
    const events = await waitFor('the events in the file', async () => {
      const e = fileEvents(t).slice(before);
      return e.length >= expected.length && e;
    });
    expect(events.map((e) => e.event_type)).toEqual(expected);
    for (const e of events) {
      expect(notificationErrors(e), e.event_type).toEqual([]);
      expect(e.payload).toMatchObject({ instance_id: id, instance_name: 'notif-mysql', tenant_id: 'admin', datastore: 'mysql', datastore_version: version });
    }
    const byType = (type: string) => events.filter((e) => e.event_type === type);
    expect(byType('user.create.start')[0].payload.users).toEqual([user]);
    expect(byType('user.delete.end')[0].payload.users).toEqual([user]);
    expect(byType('database.create.end')[0].payload.databases).toEqual([{ name: 'notif_shop' }]);
    expect(byType('database.delete.error')[0].payload.databases).toEqual([{ name: 'notif_shop' }]);
    expect(byType('user.create.error')[0].payload.exception).toMatch(/^ALREADY_EXISTS: .*already exists/);
    expect(byType('user.delete.error')[0].payload.exception).toMatch(/^NOT_FOUND: /);
    expect(byType('database.create.error')[0].payload.exception).toMatch(/^ALREADY_EXISTS: /);
    expect(byType('database.delete.error')[0].payload.exception).toMatch(/^NOT_FOUND: /);
    for (const e of events.filter((x) => x.event_type.endsWith('.error'))) expect(e.priority).toBe('ERROR');
    // A start and its outcome carry the same operation id.
    for (let i = 0; i < events.length; i += 2) expect(events[i + 1].payload.operation_id).toBe(events[i].payload.operation_id);

    if (consumer) {
      const amqp = await consumer.waitFor('the same events over AMQP', (u) => u.filter((n) => n.payload.instance_id === id).length >= before + expected.length);
      const mine = amqp.filter((n) => n.payload.instance_id === id).slice(before);
      expect(mine.map((n) => n.message_id)).toEqual(events.map((e) => e.message_id));
      for (const r of consumer.received.filter((x) => x.notification.payload.instance_id === id)) {
        expect(r.routingKey).toBe(r.notification.event_type.endsWith('.error') ? 'notifications.error' : 'notifications.info');
      }
    }
  });

  it('never writes a password into an event', async () => {
    await call(t.clients.instances, 'delete', { id });
    await waitFor(
      'instance gone',
      async () =>
        call<object, Instance>(t.clients.instances, 'get', { id }).then(
          () => false,
          (e) => e.code === status.NOT_FOUND,
        ),
      120_000,
    );
    await waitFor('delete.end in the file', async () => fileEvents(t).some((e) => e.event_type === 'instance.delete.end'));
    const text = readFileSync(t.controller.notifications.filePath!, 'utf8');
    expect(text).not.toContain(USER_PASSWORD);
    expect(text).not.toContain(rootPassword);
    const instanceEvents = fileEvents(t).filter((e) => e.event_type.startsWith('instance.'));
    expect(instanceEvents.map((e) => e.event_type)).toEqual(['instance.create.start', 'instance.create.end', 'instance.delete.start', 'instance.delete.end']);
    for (const e of instanceEvents) expect(notificationErrors(e)).toEqual([]);
    // The server version as the agent reported it: from prepare's own result on create.end, before any heartbeat could.
    expect(instanceEvents.slice(1).map((e) => e.payload.datastore_version)).toEqual([version, version, version]);
    const outbox = await t.controller.store.selectFrom('notification_outbox').select('payload').execute();
    expect(outbox.map((r) => r.payload).join('\n')).not.toContain(USER_PASSWORD);
  });
});
