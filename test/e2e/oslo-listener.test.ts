// The controller's AMQP sink against a real oslo.messaging notification
// listener (what Ceilometer runs), with the no-op manager: oslo.messaging's
// default settings on both sides in both start orders, and a durability
// mismatch, which is reported exactly while the events wait in the outbox,
// and delivered once the settings agree.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { fileEvents } from '../fixtures/notifications-file.js';
import { rabbitmqUnavailableReason, startRabbitMq, type RabbitMq } from '../fixtures/rabbitmq.js';
import { pythonUnavailableReason, startOsloListener, undeliveredToAmqp, type OsloListener } from '../fixtures/python.js';
import { CreateInstanceRequest, type CreateInstanceResponse } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { parseControllerConfig } from '../../controller/config.js';

const noRabbit = rabbitmqUnavailableReason();
const noPython = noRabbit ? undefined : await pythonUnavailableReason();
const skip = noRabbit ?? noPython;
if (skip) console.warn(`SKIPPING oslo.messaging listener tests: ${skip}`);

async function createNoop(t: TestController, name: string): Promise<string> {
  const res = await call<object, CreateInstanceResponse>(
    t.clients.instances,
    'create',
    CreateInstanceRequest.fromPartial({ name, datastore: 'noop-fixture', memoryMb: 256 }),
  );
  const op = await call<object, Operation>(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 120_000 });
  expect(op.state).toBe(OperationState.SUCCEEDED);
  return res.instance!.id;
}

const amqp = (rabbit: RabbitMq, exchange: string, extra: Record<string, unknown> = {}) => ({
  notifications: { amqp: { enabled: true, url: rabbit.url, exchange, ...extra }, dispatch: { pollMs: 200, retryInitialMs: 100, retryMaxMs: 500 } },
});

describe('AMQP sink defaults follow oslo.messaging', () => {
  it('publishes on Trove’s exchange, non-durable and not auto-delete, as oslo.messaging declares by default', () => {
    const c = parseControllerConfig({});
    expect(c.notifications.amqp).toMatchObject({ exchange: 'trove', durable: false, autoDelete: false, declareQueues: true });
  });
});

describe.skipIf(!!skip)('a real oslo.messaging listener (no-op manager, real RabbitMQ)', () => {
  let rabbit: RabbitMq;
  // Queues are named by topic (notifications.info), not by exchange: a listener
  // left running would take the next test's events. Each test closes its own.
  let open: Array<{ close(): Promise<unknown> }> = [];

  beforeAll(async () => {
    rabbit = await startRabbitMq();
  });
  afterEach(async () => {
    for (const o of open.reverse()) await o.close().catch(() => undefined);
    open = [];
  });
  afterAll(async () => {
    await rabbit?.close();
  });

  const received = (l: OsloListener, id: string) => l.received.filter((r) => r.payload.instance_id === id);

  it('listener first, then the controller, both with oslo.messaging defaults: every event arrives, as the file has it', async () => {
    const listener = await startOsloListener(rabbit.url, 'trove');
    open.push(listener);
    const t = await startTestController(amqp(rabbit, 'trove'));
    open.push(t);
    const id = await createNoop(t, 'oslo-first');
    await listener.waitFor('instance.create.end', (r) => r.some((n) => n.payload.instance_id === id && n.event_type === 'instance.create.end'));
    const mine = received(listener, id);
    const file = fileEvents(t).filter((e) => e.payload.instance_id === id);
    expect(mine.map((n) => n.metadata.message_id)).toEqual(file.map((e) => e.message_id));
    for (const [i, n] of mine.entries()) {
      expect(n.event_type).toBe(file[i].event_type);
      expect(n.publisher_id).toBe(file[i].publisher_id);
      expect(n.payload).toEqual(file[i].payload);
      expect(n.metadata.timestamp).toBe(file[i].timestamp);
      expect(n.priority).toBe('info');
    }
    expect(listener.stderr()).not.toMatch(/PRECONDITION_FAILED/);
  });

  it('controller first: events published before the listener exists wait in the default queues and arrive when it starts', async () => {
    const exchange = 'trove-late';
    const t = await startTestController(amqp(rabbit, exchange));
    open.push(t);
    const id = await createNoop(t, 'oslo-late');
    // Everything is at the broker (confirmed) before any listener exists.
    await waitFor('delivery to the broker', async () => (await undeliveredToAmqp(t)) === 0);
    const listener = await startOsloListener(rabbit.url, exchange);
    open.push(listener);
    const file = fileEvents(t).filter((e) => e.payload.instance_id === id);
    await listener.waitFor('the queued events', (r) => r.filter((n) => n.payload.instance_id === id).length >= file.length);
    expect(received(listener, id).map((n) => n.metadata.message_id)).toEqual(file.map((e) => e.message_id));
  });

  it('a durability mismatch is reported exactly, events wait in the outbox, and arrive once the settings agree', async () => {
    const exchange = 'trove-mismatch';
    const listener = await startOsloListener(rabbit.url, exchange); // oslo.messaging's default: non-durable
    open.push(listener);
    const t = await startTestController(amqp(rabbit, exchange, { durable: true }));
    open.push(t);
    const id = await createNoop(t, 'oslo-mismatch');
    const expected = "AMQP declaration mismatch: exchange 'trove-mismatch' in vhost '/' exists with durable=false, but this controller declares durable=true";
    const stored = await waitFor('the mismatch recorded on the waiting events', async () => {
      const rows = await t.controller.store.selectFrom('notification_deliveries').select(['last_error', 'delivered_at']).where('sink', '=', 'amqp').execute();
      return rows.length >= 2 && rows.every((r) => r.delivered_at === null && r.last_error?.startsWith(expected)) && rows;
    });
    expect(stored[0].last_error).toContain('set notifications.amqp.durable: false');
    expect(stored[0].last_error).toContain('amqp_durable_queues');
    expect(received(listener, id)).toEqual([]);

    // The operator makes the settings agree; the controller picks up where it stopped.
    t.config.notifications.amqp.durable = false;
    await t.restart();
    const file = fileEvents(t).filter((e) => e.payload.instance_id === id);
    await listener.waitFor('the events that waited', (r) => r.filter((n) => n.payload.instance_id === id).length >= file.length);
    expect(received(listener, id).map((n) => n.metadata.message_id)).toEqual(file.map((e) => e.message_id));
  });
});
