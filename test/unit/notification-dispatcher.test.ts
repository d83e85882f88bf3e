// The outbox and the dispatcher on a real SQLite store (the controller's own
// migrations), with a sink whose failures the test decides: per-resource order
// under failures, retries with backoff, marks that survive a restart, the
// transaction boundary, and pruning. The real sinks are exercised end to end
// in test/e2e and test/fault.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type Store } from '../../controller/store/open.js';
import { Notifier } from '../../controller/notifications/notifier.js';
import { Dispatcher, registerSinks } from '../../controller/notifications/dispatcher.js';
import { readCursor } from '../../controller/notifications/outbox.js';
import { pruneOutbox, prunedThrough } from '../../controller/notifications/prune.js';
import { retryDelay } from '../../controller/notifications/backoff.js';
import type { Sink } from '../../controller/notifications/sinks/sink.js';
import type { OutboxEvent } from '../../controller/notifications/types.js';
import { createLogger } from '../../managers/sdk/logger.js';

const log = createLogger('test', { level: 'silent' });

/** A sink that records what it is given and fails the events `failing` says it should. */
class ScriptedSink implements Sink {
  readonly batches: OutboxEvent[][] = [];
  readonly delivered: OutboxEvent[] = [];
  failing: (e: OutboxEvent) => boolean = () => false;
  constructor(
    readonly name: string,
    readonly maxPerKey: number,
  ) {}
  async deliver(events: OutboxEvent[]) {
    this.batches.push(events);
    return events.map((e) => {
      if (this.failing(e)) return new Error(`refused ${e.seq}`);
      this.delivered.push(e);
      return undefined;
    });
  }
  async close() {}
}

/** A sink whose batches take a while and overlap (like a broker's confirms), recording what was on its way at once. */
class SlowSink extends ScriptedSink {
  readonly maxInFlight = 3;
  private readonly busy = new Map<string, number>();
  overlaps = 0;
  peak = 0;
  private concurrent = 0;
  constructor(name: string) {
    super(name, 2);
  }
  override async deliver(events: OutboxEvent[]) {
    this.concurrent++;
    this.peak = Math.max(this.peak, this.concurrent);
    for (const e of events) {
      if (this.busy.get(e.orderKey)) this.overlaps++;
    }
    for (const e of events) this.busy.set(e.orderKey, (this.busy.get(e.orderKey) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, 20));
    for (const e of events) this.busy.set(e.orderKey, this.busy.get(e.orderKey)! - 1);
    this.concurrent--;
    return super.deliver(events);
  }
}

describe('outbox and dispatcher', () => {
  let dir: string;
  let store: Store;
  let notifier: Notifier;
  const dispatchers: Dispatcher[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'steward-outbox-'));
    store = await openSqliteStore(join(dir, 'steward.db'));
    notifier = new Notifier({ publisherId: 'steward.controller.unit', payload: { region: 'r', availabilityZone: null, serviceIds: {} } });
  });
  afterEach(async () => {
    for (const d of dispatchers.splice(0)) await d.stop();
    await store.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const raise = (resource: string, n: number) =>
    notifier.transaction(store, async (trx) => {
      await notifier.raise(trx, {
        eventType: 'instance.reboot.start',
        priority: 'INFO',
        resourceKind: 'instance',
        resourceId: resource,
        orderKey: `instance:${resource}`,
        tenantId: 't',
        payload: { n },
      });
    });
  const dispatcher = (sinks: Sink[], retry = { initialMs: 50, maxMs: 200 }) => {
    const d = new Dispatcher(store, sinks, { batchSize: 100, pollMs: 20, retry }, log);
    dispatchers.push(d);
    notifier.onCommitted((events) => d.committed(events));
    return d;
  };
  const until = async (what: string, fn: () => boolean | Promise<boolean>, ms = 5_000) => {
    const end = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const ns = (events: OutboxEvent[], resource?: string) =>
    events.filter((e) => !resource || e.resourceId === resource).map((e) => e.notification.payload.n as number);

  it('writes the event only if the state change commits', async () => {
    await expect(
      notifier.transaction(store, async (trx) => {
        await notifier.raise(trx, {
          eventType: 'instance.create.start',
          priority: 'INFO',
          resourceKind: 'instance',
          resourceId: 'x',
          orderKey: 'instance:x',
          tenantId: 't',
          payload: {},
        });
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    expect(await store.selectFrom('notification_outbox').selectAll().execute()).toEqual([]);
    let woken = 0;
    notifier.onCommitted(() => woken++);
    await raise('a', 1);
    expect(woken).toBe(1);
    expect(await store.selectFrom('notification_outbox').selectAll().execute()).toHaveLength(1);
  });

  it('delivers everything in order, moves the cursor and keeps no marks below it', async () => {
    const sink = new ScriptedSink('s', Infinity);
    await dispatcher([sink]).start();
    for (let i = 1; i <= 20; i++) await raise(i % 2 ? 'a' : 'b', i);
    await until('all delivered', () => sink.delivered.length === 20);
    expect(ns(sink.delivered)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await until('cursor at head', async () => (await readCursor(store, 's')) === 20);
    expect(await store.selectFrom('notification_deliveries').selectAll().execute()).toEqual([]);
  });

  it('a failing resource waits, retried with backoff; the others go on; its order is never broken', async () => {
    const sink = new ScriptedSink('s', 1);
    let refuse = true;
    sink.failing = (e) => refuse && e.resourceId === 'a' && e.notification.payload.n === 2;
    const d = dispatcher([sink]);
    await d.start();
    for (let i = 1; i <= 4; i++) {
      await raise('a', i);
      await raise('b', i);
    }
    await until('b delivered', () => ns(sink.delivered, 'b').length === 4);
    await new Promise((r) => setTimeout(r, 300));
    expect(ns(sink.delivered, 'a')).toEqual([1]); // 3 and 4 wait behind 2
    expect(await d.backlog('s')).toBe(3); // writes the outcomes so far
    const marks = await store.selectFrom('notification_deliveries').selectAll().where('sink', '=', 's').execute();
    const failed = marks.find((m) => m.delivered_at === null)!;
    expect(failed.attempts).toBeGreaterThanOrEqual(2);
    expect(failed.last_error).toBe(`refused ${failed.seq}`);
    // one event per resource per batch for this sink, and never a later one of `a` before 2 succeeded
    for (const batch of sink.batches) expect(new Set(batch.map((e) => e.orderKey)).size).toBe(batch.length);
    const attemptsOf2 = sink.batches.flat().filter((e) => e.resourceId === 'a' && e.notification.payload.n === 2).length;
    expect(attemptsOf2).toBeLessThan(12); // backoff, not a busy loop (300 ms at >= 25 ms per retry)
    refuse = false;
    await until('a delivered', () => ns(sink.delivered, 'a').length === 4);
    expect(ns(sink.delivered, 'a')).toEqual([1, 2, 3, 4]);
    expect(await d.backlog('s')).toBe(0);
  });

  it('several batches on their way at once never hold the same resource, and each resource stays in order', async () => {
    const sink = new SlowSink('slow');
    await dispatcher([sink]).start();
    const resources = ['a', 'b', 'c', 'd', 'e', 'f'];
    // Raised one by one, a little apart: new resources turn up while earlier batches are still on their way.
    for (let i = 1; i <= 10; i++) {
      for (const r of resources) {
        await raise(r, i);
        await new Promise((res) => setTimeout(res, 3));
      }
    }
    await until('all delivered', () => sink.delivered.length === 60, 10_000);
    expect(sink.overlaps).toBe(0);
    expect(sink.peak).toBeGreaterThan(1);
    for (const r of resources) expect(ns(sink.delivered, r)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('each sink on its own: one failing does not hold back another', async () => {
    const down = new ScriptedSink('down', Infinity);
    down.failing = () => true;
    const up = new ScriptedSink('up', Infinity);
    const d = dispatcher([down, up]);
    await d.start();
    for (let i = 1; i <= 5; i++) await raise('a', i);
    await until('up has everything', () => up.delivered.length === 5);
    expect(await d.backlog('down')).toBe(5);
    expect(await d.backlog('up')).toBe(0);
  });

  it('a new dispatcher on the same store resumes from the marks: nothing delivered twice, nothing skipped', async () => {
    const first = new ScriptedSink('s', Infinity);
    const d1 = dispatcher([first]);
    await d1.start();
    for (let i = 1; i <= 5; i++) await raise('a', i);
    await until('first five', () => first.delivered.length === 5);
    await d1.stop();
    for (let i = 6; i <= 8; i++) await raise('a', i); // raised while no dispatcher runs
    const second = new ScriptedSink('s', Infinity);
    await dispatcher([second]).start();
    await until('the rest', () => second.delivered.length === 3);
    expect(ns(second.delivered)).toEqual([6, 7, 8]);
  });

  it('finds in the store what it was not handed: events written by another process', async () => {
    const sink = new ScriptedSink('s', Infinity);
    const d = dispatcher([sink]);
    await d.start();
    await raise('a', 1);
    await until('handed over', () => sink.delivered.length === 1);
    // Written without this process's notifier (another controller on the same store).
    const other = new Notifier({ publisherId: 'steward.controller.other', payload: { region: 'r', availabilityZone: null, serviceIds: {} } });
    await other.transaction(store, (trx) =>
      other.raise(trx, {
        eventType: 'instance.reboot.end',
        priority: 'INFO',
        resourceKind: 'instance',
        resourceId: 'a',
        orderKey: 'instance:a',
        tenantId: 't',
        payload: { n: 2 },
      }),
    );
    await raise('a', 3); // handed over, but must wait for 2, which only a scan finds
    await until('all three', () => sink.delivered.length === 3);
    expect(ns(sink.delivered)).toEqual([1, 2, 3]);
  });

  it('a sink registered for the first time starts at the head; pruning keeps what any sink still needs', async () => {
    for (let i = 1; i <= 3; i++) await raise('a', i);
    await registerSinks(store, ['late']);
    expect(await readCursor(store, 'late')).toBe(3);
    await raise('a', 4);
    await registerSinks(store, ['behind']);
    await store.updateTable('notification_cursors').set({ seq: 2 }).where('name', '=', 'behind').execute();
    const future = Date.now() + 3_600_000;
    expect(await pruneOutbox(store, ['late', 'behind'], 1_000, future)).toBe(2);
    expect(await prunedThrough(store)).toBe(2);
    expect((await store.selectFrom('notification_outbox').select('seq').execute()).map((r) => r.seq)).toEqual([3, 4]);
    expect(await pruneOutbox(store, ['late', 'behind'], 3_600_000 * 24, future)).toBe(0); // too young
  });

  it('retry delays grow, stay under the cap, and spread', () => {
    const p = { initialMs: 100, maxMs: 1_000 };
    expect(retryDelay(1, p, () => 1)).toBe(100);
    expect(retryDelay(3, p, () => 1)).toBe(400);
    expect(retryDelay(3, p, () => 0)).toBe(200);
    expect(retryDelay(50, p, () => 1)).toBe(1_000);
  });
});
