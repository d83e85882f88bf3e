// Events.Watch over real gRPC with TLS and bearer tokens: filters, tenant
// scoping, and resuming from a cursor (after a client disconnect and after a
// controller restart) without gaps or duplicates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { call, channelCredentials, clientsFor, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { EventsClient, WatchRequest, type EventEnvelope } from '../../proto/gen/steward/v1/events.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import { pruneOutbox, prunedThrough } from '../../controller/notifications/prune.js';

interface Watching {
  events: EventEnvelope[];
  error(): ServiceError | undefined;
  /** The cursor the server said the stream starts after (response metadata). */
  startCursor(): string | undefined;
  until(what: string, fn: (events: EventEnvelope[]) => boolean, timeoutMs?: number): Promise<EventEnvelope[]>;
  cancel(): void;
}

function watch(client: EventsClient, req: Partial<WatchRequest>): Watching {
  const stream = client.watch(WatchRequest.fromPartial(req));
  const events: EventEnvelope[] = [];
  let error: ServiceError | undefined;
  let start: string | undefined;
  stream.on('metadata', (md: Metadata) => (start = String(md.get('steward-cursor')[0] ?? '')));
  stream.on('data', (e: EventEnvelope) => events.push(e));
  stream.on('error', (e: ServiceError) => (error = e));
  return {
    events,
    error: () => error,
    startCursor: () => start,
    until: (what, fn, timeoutMs = 30_000) =>
      waitFor(
        what,
        async () => {
          if (error && error.code !== status.CANCELLED) throw error;
          return fn(events) && events;
        },
        timeoutMs,
        50,
      ),
    cancel: () => stream.cancel(),
  };
}

describe('Events.Watch', () => {
  let t: TestController;
  let events: EventsClient;
  let instanceId: string;

  beforeAll(async () => {
    process.env.STEWARD_NOOP_PREPARE_MS = '0';
    t = await startTestController({ notifications: { dispatch: { pollMs: 200 } } });
    events = new EventsClient(t.controller.address, channelCredentials(t.controller.caFile, t.controller.adminToken));
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'watched', datastore: 'noop-fixture' }),
    );
    instanceId = res.instance!.id;
    await call(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 30_000 });
    await waitFor('agent connected', async () => (await call<object, Instance>(t.clients.instances, 'get', { id: instanceId })).agentConnected);
  });
  afterAll(async () => {
    events?.close();
    await t?.close();
  });

  const reboot = async () => {
    const op = await call<object, Operation>(t.clients.instances, 'restart', { id: instanceId });
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 30_000 });
    expect(done.state).toBe(OperationState.SUCCEEDED);
  };
  const outbox = () => t.controller.store.selectFrom('notification_outbox').selectAll().orderBy('seq').execute();

  it('from cursor "0" streams every event kept, in order, each valid against the schema', async () => {
    const w = watch(events, { cursor: '0' });
    const rows = await outbox();
    const got = await w.until('the events so far', (e) => e.length >= rows.length);
    w.cancel();
    expect(got.map((e) => e.messageId)).toEqual(rows.map((r) => r.message_id));
    expect(got.map((e) => e.eventType)).toEqual(['instance.create.start', 'instance.create.end']);
    for (const e of got) {
      expect(e.resourceKind).toBe('instance');
      expect(e.resourceId).toBe(instanceId);
      const n = {
        message_id: e.messageId,
        publisher_id: e.publisherId,
        event_type: e.eventType,
        priority: e.priority,
        payload: JSON.parse(e.payloadJson),
        timestamp: e.timestamp,
      };
      expect(notificationErrors(n)).toEqual([]);
    }
    expect(Number(got[1].cursor)).toBeGreaterThan(Number(got[0].cursor));
  });

  it('an empty cursor means "from now on", and filters pick by type, kind and resource id', async () => {
    const live = watch(events, {});
    const rebootsOnly = watch(events, { eventTypes: ['instance.reboot.*'], resourceIds: [instanceId], resourceKinds: ['instance'] });
    const otherResource = watch(events, { resourceIds: ['no-such-instance'] });
    const otherKind = watch(events, { resourceKinds: ['backup'] });
    await new Promise((r) => setTimeout(r, 300)); // the streams are open before the events
    const head = (await outbox()).at(-1)!.seq;
    await reboot();
    await live.until('reboot start and end', (e) => e.length >= 2);
    // The stream told where it started, so a client can resume from there before any event came.
    expect(live.startCursor()).toBe(String(head));
    expect(Number(live.events[0].cursor)).toBe(head + 1);
    await rebootsOnly.until('reboot start and end', (e) => e.length >= 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(live.events.map((e) => e.eventType)).toEqual(['instance.reboot.start', 'instance.reboot.end']);
    expect(rebootsOnly.events.map((e) => e.eventType)).toEqual(['instance.reboot.start', 'instance.reboot.end']);
    expect(otherResource.events).toEqual([]);
    expect(otherKind.events).toEqual([]);
    for (const w of [live, rebootsOnly, otherResource, otherKind]) w.cancel();
  });

  it('resumes after a client disconnect from its cursor: no gaps, no duplicates', async () => {
    const first = watch(events, { cursor: '0' });
    await first.until('some events', (e) => e.length >= 3);
    first.cancel();
    const kept = first.events.slice(0, 3); // a client that processed three events, then lost its connection
    await reboot();
    await reboot();
    const resumed = watch(events, { cursor: kept[2].cursor });
    const rows = await outbox();
    await resumed.until('everything after the cursor', (e) => kept.length + e.length >= rows.length);
    await new Promise((r) => setTimeout(r, 300));
    resumed.cancel();
    const seen = [...kept, ...resumed.events].map((e) => e.messageId);
    expect(seen).toEqual(rows.map((r) => r.message_id));
  });

  it('resumes across a controller restart: the stream ends UNAVAILABLE, the next one continues from the cursor', async () => {
    const w = watch(events, { cursor: '0' });
    const before = await outbox();
    await w.until('the events so far', (e) => e.length >= before.length);
    await t.restart();
    await waitFor('stream ended', async () => !!w.error());
    expect(w.error()!.code).toBe(status.UNAVAILABLE);
    await waitFor('agent reconnect', async () => (await call<object, Instance>(t.clients.instances, 'get', { id: instanceId })).agentConnected);
    await reboot();
    const last = w.events[w.events.length - 1].cursor;
    const resumed = watch(events, { cursor: last });
    const rows = await outbox();
    await resumed.until('the events after the restart', (e) => w.events.length + e.length >= rows.length);
    resumed.cancel();
    expect([...w.events, ...resumed.events].map((e) => e.messageId)).toEqual(rows.map((r) => r.message_id));
  });

  it('a tenant sees only its own events', async () => {
    const { token } = await call<object, { token: string }>(t.clients.tokens, 'create', { tenantId: 'acme', name: 'acme ops', admin: false });
    const acme = new EventsClient(t.controller.address, channelCredentials(t.controller.caFile, token));
    const acmeApi = clientsFor(t.controller.address, t.controller.caFile, token);
    try {
      const w = watch(acme, { cursor: '0' });
      const res = await call<object, CreateInstanceResponse>(
        acmeApi.instances,
        'create',
        CreateInstanceRequest.fromPartial({ name: 'acme-db', datastore: 'noop-fixture' }),
      );
      await w.until('acme create start and end', (e) => e.length >= 2);
      await reboot(); // the admin tenant's, unseen by acme
      await new Promise((r) => setTimeout(r, 500));
      w.cancel();
      expect(w.events.map((e) => [e.eventType, e.resourceId])).toEqual([
        ['instance.create.start', res.instance!.id],
        ['instance.create.end', res.instance!.id],
      ]);
      expect(JSON.parse(w.events[0].payloadJson).tenant_id).toBe('acme');
    } finally {
      acme.close();
      acmeApi.close();
    }
  });

  it('refuses bad requests with the field named, a missing token, and a cursor from elsewhere', async () => {
    const refused = async (client: EventsClient, req: Partial<WatchRequest>) => {
      const w = watch(client, req);
      await waitFor('refusal', async () => !!w.error());
      return w.error()!;
    };
    expect(await refused(events, { eventTypes: ['instance create'] })).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('event_types[0]'),
    });
    expect(await refused(events, { resourceKinds: ['spaceship'] })).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('resource_kinds[0]'),
    });
    expect(await refused(events, { cursor: 'abc' })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('cursor') });
    expect(await refused(events, { cursor: '999999999' })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('cursor') });
    const anonymous = new EventsClient(t.controller.address, channelCredentials(t.controller.caFile));
    try {
      expect(await refused(anonymous, { cursor: '0' })).toMatchObject({ code: status.UNAUTHENTICATED });
    } finally {
      anonymous.close();
    }
  });

  it('a cursor older than the events still kept is refused with OUT_OF_RANGE, naming where to resume', async () => {
    const { store } = t.controller;
    const dispatcher = t.controller.notifications.dispatcher!;
    await waitFor('file sink caught up', async () => (await dispatcher.backlog('file')) === 0);
    const pruned = await pruneOutbox(store, dispatcher.sinkNames, 1, Date.now() + 60_000);
    expect(pruned).toBeGreaterThan(0);
    const through = await prunedThrough(store);
    const w = watch(events, { cursor: '0' });
    await waitFor('refusal', async () => !!w.error());
    expect(w.error()).toMatchObject({ code: status.OUT_OF_RANGE, details: expect.stringContaining(`"${through}"`) });
    const resumed = watch(events, { cursor: String(through) });
    await reboot();
    await resumed.until('events after the pruning mark', (e) => e.length >= 2);
    resumed.cancel();
  });
});
