// Delivers the outbox to every enabled sink, at least once, each sink on its
// own loop so that a broker outage never holds back the file.
//
// The store is the truth: per sink, a cursor ("delivered through seq N") and
// delivery marks (attempts, next retry, delivered) for the events above it.
// Events committed by this process are also handed over in memory right
// after their commit, so delivery does not wait for a turn at the store
// (SQLite has one connection, which a busy controller keeps occupied); the
// store is read at start, after an error and every poll (events written by
// another process, the retries that came due).
//
// Per resource (order key), events go out in outbox order: an event is never
// handed to a sink while an earlier event of its resource is undelivered
// there (or still on its way), and a failing event holds back only its own
// resource, retried with exponential backoff. A sink may take several batches
// at once (`maxInFlight`), never two holding the same resource.
//
// Marks are written after the sink confirmed, in batches: a crash before they
// are written means re-delivery (consumers deduplicate on message_id), never
// loss.
import type { Logger } from '../../managers/sdk/logger.js';
import type { Store } from '../store/open.js';
import { retryDelay, type RetryPolicy } from './backoff.js';
import { eventOf, headSeq, readCursor, writeCursor, type OutboxRow } from './outbox.js';
import { prunedThrough } from './prune.js';
import type { Sink } from './sinks/sink.js';
import { SinkLoop, type Pending } from './sink-loop.js';
import type { OutboxEvent } from './types.js';

export interface DispatcherOptions {
  batchSize: number;
  pollMs: number;
  retry: RetryPolicy;
}

/** Rows read per store scan, at most; the rest waits for the next scan. */
const SCAN_ROWS = 5_000;
/** Beyond this many known undelivered events, new ones are left for the scans to find. */
const MAX_PENDING = 20_000;
/** Marks waiting to be written before delivery pauses to write them. */
const MAX_UNWRITTEN_MARKS = 5_000;
/**
 * While busy, outcomes are written at most this often: each write is a commit
 * (an fsync), and a busy controller has better uses for them. Losing unwritten
 * marks in a crash only means re-delivery.
 */
const MARKS_EVERY_MS = 250;

/**
 * Gives each configured sink its cursor. A sink seen for the first time starts
 * with the events raised from now on (enabling AMQP on a controller with a long
 * history does not replay it); one that fell behind the pruning mark resumes
 * there. Done by every controller, dispatching or not, so that events a
 * non-dispatching controller writes are delivered by whichever one dispatches.
 */
export async function registerSinks(store: Store, names: readonly string[]): Promise<void> {
  const head = await headSeq(store);
  const pruned = await prunedThrough(store);
  for (const name of names) {
    const cursor = await readCursor(store, name);
    if (cursor === undefined) await writeCursor(store, name, head);
    else if (cursor < pruned) await writeCursor(store, name, pruned);
  }
}

export class Dispatcher {
  private readonly loops: SinkLoop[];
  private running = false;

  constructor(
    private readonly store: Store,
    sinks: Sink[],
    private readonly opts: DispatcherOptions,
    private readonly log: Logger,
  ) {
    this.loops = sinks.map((sink) => new SinkLoop(sink));
  }

  get sinkNames(): string[] {
    return this.loops.map((l) => l.sink.name);
  }

  async start(): Promise<void> {
    await registerSinks(this.store, this.sinkNames);
    for (const { sink } of this.loops) void sink.open?.().catch(() => undefined);
    this.running = true;
    for (const loop of this.loops) loop.done = this.run(loop);
  }

  /** Events just committed by this process, in sequence order. */
  committed(events: readonly OutboxEvent[]): void {
    for (const l of this.loops) {
      for (const e of events) {
        if (e.seq <= l.knownThrough || l.pending.size >= MAX_PENDING) continue;
        l.add({ event: e, attempts: 0, dueAt: 0 });
        l.ahead.add(e.seq);
      }
      // Only a gap-free run is deliverable: an event committed elsewhere could sit in a gap.
      if (l.scanned) while (l.ahead.delete(l.knownThrough + 1)) l.knownThrough++;
    }
    this.wake();
  }

  /** Look now rather than at the next poll. */
  wake(): void {
    for (const loop of this.loops) {
      loop.woken = true;
      loop.wakeUp?.();
    }
  }

  /** Stops after the batches in flight; their outcomes are written, the rest waits in the outbox. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await Promise.all(this.loops.map((l) => l.done));
    await Promise.all(this.loops.map((l) => l.sink.close().catch(() => undefined)));
  }

  /** Events not yet delivered to a sink, as the store has it once pending marks are written (tests, benchmarks, operators). */
  async backlog(sinkName: string): Promise<number> {
    const loop = this.loops.find((l) => l.sink.name === sinkName);
    if (loop) await this.writeMarks(loop);
    const cursor = (await readCursor(this.store, sinkName)) ?? 0;
    const r = await this.store
      .selectFrom('notification_outbox as o')
      .leftJoin('notification_deliveries as d', (j) => j.onRef('d.seq', '=', 'o.seq').on('d.sink', '=', sinkName))
      .select((eb) => eb.fn.countAll().as('n'))
      .where('o.seq', '>', cursor)
      .where('d.delivered_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  private async run(l: SinkLoop): Promise<void> {
    const maxInFlight = Math.max(1, l.sink.maxInFlight ?? 1);
    while (this.running) {
      let waitMs = this.opts.pollMs;
      try {
        if (l.needScan || Date.now() - l.lastScanAt >= this.opts.pollMs) {
          await this.writeMarks(l); // moves the cursor, so the scan starts higher
          await this.scan(l);
        }
        let nextDueAt: number | undefined;
        while (l.batches.size < maxInFlight) {
          const next = this.select(l);
          nextDueAt = next.nextDueAt;
          if (next.batch.length === 0) break;
          this.launch(l, next.batch);
        }
        if (l.marks.size >= MAX_UNWRITTEN_MARKS) await this.writeMarks(l);
        else if (l.marks.size > 0 && (l.batches.size === 0 || Date.now() - l.lastWriteAt >= MARKS_EVERY_MS)) void this.writeMarks(l).catch(() => undefined);
        waitMs = Math.max(0, this.opts.pollMs - (Date.now() - l.lastScanAt));
        if (nextDueAt !== undefined) waitMs = Math.min(waitMs, Math.max(0, nextDueAt - Date.now()));
      } catch (err) {
        this.log.error({ sink: l.sink.name, err: (err as Error).message }, 'notification dispatch failed');
        l.needScan = true;
        waitMs = this.opts.retry.initialMs;
      }
      await this.sleep(l, waitMs); // a finished batch or a commit wakes it early
    }
    await Promise.allSettled([...l.batches]);
    await this.writeMarks(l).catch((err) =>
      this.log.error({ sink: l.sink.name, err: (err as Error).message }, 'could not record deliveries: they will be repeated'),
    );
  }

  /** Hands a batch to the sink without waiting: its resources stay busy until the outcome is in. */
  private launch(l: SinkLoop, batch: Pending[]): void {
    for (const p of batch) {
      l.busyKeys.set(p.event.orderKey, (l.busyKeys.get(p.event.orderKey) ?? 0) + 1);
    }
    const job: Promise<void> = l.sink
      .deliver(batch.map((p) => p.event))
      .catch((err: unknown) => batch.map(() => (err instanceof Error ? err : new Error(String(err)))))
      .then((outcomes) => this.settle(l, batch, outcomes))
      .finally(() => {
        for (const p of batch) {
          const n = (l.busyKeys.get(p.event.orderKey) ?? 1) - 1;
          if (n > 0) l.busyKeys.set(p.event.orderKey, n);
          else l.busyKeys.delete(p.event.orderKey);
        }
        l.batches.delete(job);
        l.woken = true;
        l.wakeUp?.();
      });
    l.batches.add(job);
  }

  private sleep(l: SinkLoop, ms: number): Promise<void> {
    if (l.woken || !this.running) {
      l.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        l.wakeUp = undefined;
        l.woken = false;
        resolve();
      }
      l.wakeUp = done;
    });
  }

  /** Learns from the store what this loop may not know: events from before the start or from elsewhere, and retry states. */
  private async scan(l: SinkLoop): Promise<void> {
    const name = l.sink.name;
    const { head, rows } = await this.store.transaction().execute(async (trx) => {
      const head = await headSeq(trx);
      const rows = await trx
        .selectFrom('notification_outbox as o')
        .leftJoin('notification_deliveries as d', (j) => j.onRef('d.seq', '=', 'o.seq').on('d.sink', '=', name))
        .selectAll('o')
        .select(['d.attempts', 'd.next_attempt_at'])
        .where('o.seq', '>', (eb) => eb.selectFrom('notification_cursors').select('seq').where('name', '=', name))
        .where('o.seq', '<=', head)
        .where('d.delivered_at', 'is', null)
        .orderBy('o.seq')
        .limit(SCAN_ROWS)
        .execute();
      return { head, rows };
    });
    // How far this scan vouches for: the head, unless it stopped early (then its last row taken).
    let through = head;
    for (const r of rows) {
      // Delivered, but its mark not yet written (a batch settled while this scan ran).
      if (l.unwrittenDeliveries.has(Number(r.seq))) continue;
      if (l.pending.size >= MAX_PENDING && !l.pending.has(Number(r.seq))) {
        through = Number(r.seq) - 1;
        break;
      }
      l.add({ event: eventOf(r as OutboxRow), attempts: Number(r.attempts ?? 0), dueAt: Number(r.next_attempt_at ?? 0) });
    }
    if (rows.length === SCAN_ROWS) through = Math.min(through, Number(rows[rows.length - 1].seq));
    if (through > l.knownThrough) l.knownThrough = through;
    l.scanned = true;
    for (const s of l.ahead) if (s <= l.knownThrough) l.ahead.delete(s);
    while (l.ahead.delete(l.knownThrough + 1)) l.knownThrough++;
    l.needScan = false;
    l.lastScanAt = Date.now();
  }

  /** The next events this sink may take without overtaking an undelivered event of the same resource. */
  private select(l: SinkLoop): { batch: Pending[]; nextDueAt?: number } {
    const now = Date.now();
    const batch: Pending[] = [];
    const blocked = new Set<string>();
    const perKey = new Map<string, number>();
    let nextDueAt: number | undefined;
    for (const seq of l.order) {
      if (seq > l.knownThrough || batch.length >= this.opts.batchSize) break;
      const p = l.pending.get(seq)!;
      const key = p.event.orderKey;
      if (blocked.has(key)) continue;
      if (l.busyKeys.has(key)) {
        blocked.add(key); // its earlier events are on their way: wait for their outcome
        continue;
      }
      if (p.dueAt > now) {
        blocked.add(key);
        nextDueAt = Math.min(nextDueAt ?? p.dueAt, p.dueAt);
        continue;
      }
      batch.push(p);
      const n = (perKey.get(key) ?? 0) + 1;
      perKey.set(key, n);
      if (n >= l.sink.maxPerKey) blocked.add(key);
    }
    return { batch, nextDueAt };
  }

  /** Applies a batch's outcomes in memory and queues their marks. */
  private settle(l: SinkLoop, batch: Pending[], outcomes: Array<Error | undefined>): void {
    const now = Date.now();
    const delivered = new Set<number>();
    batch.forEach((p, i) => {
      const err = outcomes[i];
      p.attempts++;
      if (err) {
        p.dueAt = now + retryDelay(p.attempts, this.opts.retry);
        l.marks.set(p.event.seq, {
          seq: p.event.seq,
          attempts: p.attempts,
          next_attempt_at: p.dueAt,
          last_error: err.message.slice(0, 1000),
          delivered_at: null,
        });
      } else {
        delivered.add(p.event.seq);
        l.unwrittenDeliveries.add(p.event.seq);
        l.marks.set(p.event.seq, { seq: p.event.seq, attempts: p.attempts, next_attempt_at: 0, last_error: null, delivered_at: new Date(now).toISOString() });
      }
    });
    l.remove(delivered);
    this.reportHealth(l, batch, outcomes);
  }

  /** Writes the queued marks (one transaction) and moves the cursor; one writer per loop at a time. */
  private writeMarks(l: SinkLoop): Promise<void> {
    l.writing = l.writing
      .catch(() => undefined)
      .then(async () => {
        if (l.marks.size === 0) return;
        l.lastWriteAt = Date.now();
        const marks = [...l.marks.values()];
        l.marks = new Map();
        const sink = l.sink.name;
        try {
          await this.store.transaction().execute(async (trx) => {
            for (let i = 0; i < marks.length; i += 200) {
              await trx
                .insertInto('notification_deliveries')
                .values(marks.slice(i, i + 200).map((m) => ({ sink, ...m })))
                .onConflict((oc) =>
                  oc.columns(['sink', 'seq']).doUpdateSet((eb) => ({
                    attempts: eb.ref('excluded.attempts'),
                    next_attempt_at: eb.ref('excluded.next_attempt_at'),
                    last_error: eb.ref('excluded.last_error'),
                    delivered_at: eb.ref('excluded.delivered_at'),
                  })),
                )
                .execute();
            }
            await this.advanceCursor(trx, sink);
          });
          for (const m of marks) if (m.delivered_at) l.unwrittenDeliveries.delete(m.seq);
        } catch (err) {
          // Keep them (newer outcomes win) for the next attempt.
          for (const m of marks) if (!l.marks.has(m.seq)) l.marks.set(m.seq, m);
          throw err;
        }
      });
    return l.writing;
  }

  /** Moves the cursor up to just below the oldest undelivered event, and forgets the marks below it. */
  private async advanceCursor(trx: Store, sink: string): Promise<void> {
    const cursor = (await readCursor(trx, sink)) ?? 0;
    const oldest = await trx
      .selectFrom('notification_outbox as o')
      .leftJoin('notification_deliveries as d', (j) => j.onRef('d.seq', '=', 'o.seq').on('d.sink', '=', sink))
      .select((eb) => eb.fn.min('o.seq').as('min'))
      .where('o.seq', '>', cursor)
      .where('d.delivered_at', 'is', null)
      .executeTakeFirst();
    const next = oldest?.min != null ? Number(oldest.min) - 1 : await headSeq(trx);
    if (next <= cursor) return;
    await writeCursor(trx, sink, next);
    await trx.deleteFrom('notification_deliveries').where('sink', '=', sink).where('seq', '<=', next).execute();
  }

  /** One line when a sink starts failing and one when it recovers, not one per retry. */
  private reportHealth(l: SinkLoop, batch: Pending[], outcomes: Array<Error | undefined>): void {
    const failed = outcomes.findIndex((o) => o);
    if (failed >= 0 && !l.failing) {
      l.failing = true;
      this.log.warn(
        { sink: l.sink.name, err: outcomes[failed]!.message, seq: batch[failed].event.seq },
        'notification sink failing: events wait in the outbox',
      );
    } else if (failed < 0 && l.failing) {
      l.failing = false;
      this.log.info({ sink: l.sink.name }, 'notification sink delivering again');
    }
  }
}
