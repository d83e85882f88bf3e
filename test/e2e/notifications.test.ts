// Notifications from the instance flows that exist (create, reboot, delete,
// a cancelled create) with the no-op manager: a real controller and agents, a
// real RabbitMQ. Every event is checked against the JSON Schema, in the
// JSON-lines file and, in the oslo.messaging envelope, at an amqplib consumer.
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { consumeNotifications, rabbitmqUnavailableReason, startRabbitMq, type NotificationConsumer, type RabbitMq } from '../fixtures/rabbitmq.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import type { Notification } from '../../controller/notifications/types.js';

const noRabbit = rabbitmqUnavailableReason();
if (noRabbit) console.warn(`SKIPPING notification tests that need RabbitMQ: ${noRabbit}`);
const EXCHANGE = 'steward-e2e';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.skipIf(!!noRabbit)('notifications from instance flows (no-op manager, real RabbitMQ)', () => {
  let rabbit: RabbitMq;
  let consumer: NotificationConsumer;
  let t: TestController;
  let file: string;

  beforeAll(async () => {
    rabbit = await startRabbitMq();
    consumer = await consumeNotifications(rabbit.url, EXCHANGE);
    t = await startTestController({
      notifications: {
        publisherId: 'steward.controller.e2e',
        region: 'test-region',
        amqp: { enabled: true, url: rabbit.url, exchange: EXCHANGE, durable: true },
        dispatch: { pollMs: 200, retryInitialMs: 100, retryMaxMs: 1_000 },
      },
    });
    file = t.controller.notifications.filePath!;
  });
  afterAll(async () => {
    await t?.close();
    await consumer?.close();
    await rabbit?.close();
  });

  const fileEvents = (): Notification[] =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Notification)
      : [];
  const about = (events: Notification[], instanceId: string) => events.filter((e) => e.payload.instance_id === instanceId);
  const create = async (name: string, prepareMs = 0) => {
    process.env.STEWARD_NOOP_PREPARE_MS = String(prepareMs); // inherited by the agent the provisioner spawns
    return call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name, datastore: 'noop-fixture', memoryMb: 256 }),
    );
  };
  const waitOp = (id: string) => call<object, Operation>(t.clients.operations, 'wait', { id, timeoutMs: 60_000 });
  const gone = (id: string) =>
    waitFor('instance gone', async () =>
      call<object, Instance>(t.clients.instances, 'get', { id }).then(
        () => false,
        (e) => e.code === status.NOT_FOUND,
      ),
    );

  it('create, reboot and delete raise start and end, with Trove usage payloads, in order, once each, in the file and over AMQP', async () => {
    const res = await create('usage-1');
    const id = res.instance!.id;
    expect((await waitOp(res.operation!.id)).state).toBe(OperationState.SUCCEEDED);
    await waitFor('agent connected', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).agentConnected);
    // A read through the agent raises nothing.
    await call(t.clients.instances, 'ping', { instanceId: id, echo: 'x' });
    const reboot = await call<object, Operation>(t.clients.instances, 'restart', { id });
    expect((await waitOp(reboot.id)).state).toBe(OperationState.SUCCEEDED);
    await call(t.clients.instances, 'delete', { id });
    await gone(id);

    const expected = [
      ['instance.create.start', 'build'],
      ['instance.create.end', 'active'],
      ['instance.reboot.start', 'reboot'],
      ['instance.reboot.end', 'active'],
      ['instance.delete.start', 'shutdown'],
      ['instance.delete.end', 'deleted'],
    ];
    const amqp = about(await consumer.waitFor('six instance events', (u) => about(u, id).length >= 6), id);
    const inFile = await waitFor('six events in the file', async () => about(fileEvents(), id).length >= 6 && about(fileEvents(), id));
    for (const events of [inFile, amqp]) {
      expect(events.map((e) => [e.event_type, e.payload.state])).toEqual(expected);
      for (const e of events) {
        expect(notificationErrors(e)).toEqual([]);
        expect(e.message_id).toMatch(UUID);
        expect(e.publisher_id).toBe('steward.controller.e2e');
        expect(e.priority).toBe('INFO');
        expect(e.timestamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
        expect(e.payload).toMatchObject({
          instance_id: id,
          instance_name: 'usage-1',
          tenant_id: 'admin',
          instance_size: 256,
          memory_mb: 256,
          datastore: 'noop-fixture',
          region: 'test-region',
        });
      }
    }
    expect(new Set(inFile.map((e) => e.message_id)).size).toBe(6);
    // The same events, not copies: the file and the broker carry the same message ids.
    expect(amqp.map((e) => e.message_id)).toEqual(inFile.map((e) => e.message_id));
    expect(inFile[5].payload.deleted_at).toMatch(/Z$/);
    expect(inFile[0].payload.deleted_at).toBeUndefined();
    // Each message arrived once, persistent, on notifications.info, in the oslo v2 envelope.
    const raw = consumer.received.filter((r) => r.notification.payload.instance_id === id);
    expect(raw).toHaveLength(6);
    for (const r of raw) {
      expect(r.routingKey).toBe('notifications.info');
      expect(r.persistent).toBe(true);
      expect(Object.keys(r.envelope).sort()).toEqual(['oslo.message', 'oslo.version']);
      expect(r.envelope['oslo.version']).toBe('2.0');
      expect(typeof r.envelope['oslo.message']).toBe('string');
    }
  });

  it('a create cancelled mid-prepare ends in instance.create.error with the exception, on notifications.error', async () => {
    const res = await create('cancelled', 5_000);
    const id = res.instance!.id;
    await waitFor(
      'prepare running',
      async () => (await call<object, Operation>(t.clients.operations, 'get', { id: res.operation!.id })).state === OperationState.RUNNING,
    );
    await call(t.clients.operations, 'cancel', { id: res.operation!.id });
    const events = about(await consumer.waitFor('create.error', (u) => about(u, id).some((e) => e.event_type === 'instance.create.error')), id);
    expect(events.map((e) => e.event_type)).toEqual(['instance.create.start', 'instance.create.error']);
    const err = events[1];
    expect(notificationErrors(err)).toEqual([]);
    expect(err.priority).toBe('ERROR');
    expect(err.payload.state).toBe('error');
    expect(err.payload.exception).toBe('CANCELLED: cancelled by the user');
    expect(consumer.received.find((r) => r.notification.message_id === err.message_id)!.routingKey).toBe('notifications.error');
    await call(t.clients.instances, 'delete', { id });
    await gone(id);
    await consumer.waitFor('delete.end', (u) => about(u, id).some((e) => e.event_type === 'instance.delete.end'));
  });

  it('every .start has exactly one .end or .error, and every event reached both sinks exactly once', async () => {
    const outbox = await t.controller.store.selectFrom('notification_outbox').select(['message_id', 'event_type']).orderBy('seq').execute();
    await waitFor('file caught up', async () => fileEvents().length >= outbox.length);
    const inFile = fileEvents();
    expect(inFile.map((e) => e.message_id)).toEqual(outbox.map((r) => r.message_id));
    await consumer.waitFor('AMQP caught up', (u) => u.length >= outbox.length);
    expect(consumer.received.map((r) => r.notification.message_id).sort()).toEqual(outbox.map((r) => r.message_id).sort());
    const open = new Map<string, number>();
    for (const e of inFile) {
      const [kind, action, phase] = e.event_type.split('.');
      const key = `${kind}.${action}:${String(e.payload.operation_id ?? e.payload.instance_id)}`;
      open.set(key, (open.get(key) ?? 0) + (phase === 'start' ? 1 : -1));
    }
    expect([...open.values()].every((n) => n === 0)).toBe(true);
    // Marks follow the sinks' confirmations, which can trail what a consumer already sees.
    const dispatcher = t.controller.notifications.dispatcher!;
    await waitFor('backlogs empty', async () => (await dispatcher.backlog('file')) === 0 && (await dispatcher.backlog('amqp')) === 0);
  });
});
