// The full event catalog of a real MariaDB/MySQL run (create with a database
// and a user, users, databases, root, a refused change, backup, restart,
// backup delete, delete), received by a real oslo.messaging notification
// listener: both start orders, both durability settings (the controller's
// notifications.amqp.durable equal to the listener's amqp_durable_queues),
// each on a fresh RabbitMQ. What the listener's endpoint is handed is exactly
// what the JSON-lines file holds.
import { describe, expect, it } from 'vitest';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { fileEvents } from '../fixtures/notifications-file.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import { rabbitmqUnavailableReason, startRabbitMq } from '../fixtures/rabbitmq.js';
import { pythonUnavailableReason, startOsloListener, undeliveredToAmqp, type OsloListener } from '../fixtures/python.js';
import { CreateInstanceRequest, CreateUsersApiRequest, type CreateInstanceResponse } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { BackupStatus, type Backup } from '../../proto/gen/steward/v1/backups.js';
import type { Notification } from '../../controller/notifications/types.js';

const skip = (await mysqlUnavailableReason()) ?? rabbitmqUnavailableReason() ?? (await pythonUnavailableReason());
if (skip) console.warn(`SKIPPING the oslo.messaging catalog tests: ${skip}`);

const CATALOG = [
  'instance.create.start',
  'instance.create.end',
  'user.create.start',
  'user.create.end',
  'user.create.start',
  'user.create.error',
  'user.delete.start',
  'user.delete.end',
  'database.create.start',
  'database.create.end',
  'database.delete.start',
  'database.delete.end',
  'database.delete.start',
  'database.delete.error',
  'root.enable.start',
  'root.enable.end',
  'backup.create.start',
  'backup.create.end',
  'instance.reboot.start',
  'instance.reboot.end',
  'backup.delete.start',
  'backup.delete.end',
  'instance.delete.start',
  'instance.delete.end',
];

/** Every kind of event a MariaDB instance raises, start to end (a few refusals among them). */
async function runCatalog(t: TestController): Promise<string> {
  const c = t.clients;
  const finish = async (op: Operation) => call<object, Operation>(c.operations, 'wait', { id: op.id, timeoutMs: 120_000 });
  const state = async (p: Promise<Operation>) => (await finish(await p)).state;
  const res = await call<object, CreateInstanceResponse>(
    c.instances,
    'create',
    CreateInstanceRequest.fromPartial({
      name: 'oslo-catalog',
      datastore: 'mysql',
      memoryMb: 256,
      databases: [{ name: 'shop' }],
      users: [{ name: 'app', host: '%', password: 'Oslo-app-pw-1', access: [{ database: 'shop' }] }],
    }),
  );
  const id = res.instance!.id;
  expect(await state(Promise.resolve(res.operation!))).toBe(OperationState.SUCCEEDED);
  const user = CreateUsersApiRequest.fromPartial({ instanceId: id, users: [{ name: 'reporter', host: '%', password: 'Oslo-rep-pw-2' }] });
  expect(await state(call(c.users, 'create', user))).toBe(OperationState.SUCCEEDED);
  expect(await state(call(c.users, 'create', user))).toBe(OperationState.FAILED);
  expect(await state(call(c.users, 'delete', { instanceId: id, user: { name: 'reporter', host: '%' } }))).toBe(OperationState.SUCCEEDED);
  expect(
    await state(call(c.databases, 'create', { instanceId: id, databases: [{ name: 'orders', characterSet: '', collation: '', ctype: '', replication: {} }] })),
  ).toBe(OperationState.SUCCEEDED);
  expect(await state(call(c.databases, 'delete', { instanceId: id, name: 'orders', terminateConnections: false }))).toBe(OperationState.SUCCEEDED);
  expect(await state(call(c.databases, 'delete', { instanceId: id, name: 'orders', terminateConnections: false }))).toBe(OperationState.FAILED);
  await call(c.root, 'enable', { id });
  const backup = await call<object, Backup>(c.backups, 'create', { instanceId: id, name: 'nightly', description: '', incremental: false, parentId: '' });
  await waitFor('the backup', async () => (await call<object, Backup>(c.backups, 'get', { id: backup.id })).status === BackupStatus.COMPLETED, 180_000);
  expect(await state(call(c.instances, 'restart', { id }))).toBe(OperationState.SUCCEEDED);
  await call(c.backups, 'delete', { id: backup.id, chain: false });
  await call(c.instances, 'delete', { id, detachReplicas: false });
  await waitFor('instance.delete.end', async () => fileEvents(t).some((e) => e.event_type === 'instance.delete.end'), 120_000);
  return id;
}

function expectSame(listener: OsloListener, file: Notification[]): void {
  const seen = new Map<string, (typeof listener.received)[number]>();
  for (const r of listener.received) if (!seen.has(r.metadata.message_id)) seen.set(r.metadata.message_id, r);
  expect(seen.size).toBe(file.length);
  for (const e of file) {
    const r = seen.get(e.message_id);
    expect(r, `${e.event_type} ${e.message_id}`).toBeDefined();
    expect(r!.event_type).toBe(e.event_type);
    expect(r!.priority).toBe(e.priority.toLowerCase());
    expect(r!.publisher_id).toBe(e.publisher_id);
    expect(r!.metadata.timestamp).toBe(e.timestamp);
    expect(r!.payload).toEqual(e.payload);
  }
}

describe.skipIf(!!skip)('the MariaDB event catalog at a real oslo.messaging listener', () => {
  for (const durable of [false, true]) {
    for (const order of ['listener first', 'controller first'] as const) {
      it(`${order}, durable ${durable} on both sides`, async () => {
        const rabbit = await startRabbitMq();
        const closers: Array<() => Promise<unknown>> = [];
        try {
          const listen = async () => {
            const l = await startOsloListener(rabbit.url, 'trove', durable ? { durable: true } : {});
            closers.push(() => l.close());
            return l;
          };
          let listener = order === 'listener first' ? await listen() : undefined;
          const t = await startTestController({
            notifications: {
              amqp: { enabled: true, url: rabbit.url, ...(durable ? { durable: true } : {}) },
              dispatch: { pollMs: 200, retryInitialMs: 100, retryMaxMs: 1_000 },
            },
          });
          closers.push(() => t.close());
          await runCatalog(t);
          const file = fileEvents(t);
          expect(file.map((e) => e.event_type)).toEqual(CATALOG);
          if (!listener) {
            // Every event confirmed by the broker before any listener exists: they wait in the default queues.
            await waitFor('every event at the broker', async () => (await undeliveredToAmqp(t)) === 0, 60_000);
            listener = await listen();
          }
          const l = listener;
          await l.waitFor('the whole catalog', (r) => new Set(r.map((n) => n.metadata.message_id)).size >= file.length, 120_000);
          expectSame(l, file);
          expect(l.stderr()).not.toMatch(/PRECONDITION_FAILED|inequivalent/);
        } finally {
          for (const close of closers.reverse()) await close().catch(() => undefined);
          await rabbit.close();
        }
      });
    }
  }
});
