// What the dispatcher knows per sink, in memory: the undelivered events in
// sequence order, how far that knowledge is complete, what is on its way, and
// the outcomes not yet written to the store.
import type { NotificationDeliveriesTable } from '../store/schema.js';
import type { Sink } from './sinks/sink.js';
import type { OutboxEvent } from './types.js';

export interface Pending {
  event: OutboxEvent;
  attempts: number;
  dueAt: number;
}

export type Mark = Omit<NotificationDeliveriesTable, 'sink'>;

export class SinkLoop {
  /** Undelivered events this loop knows of, by seq, and their seqs in order. */
  readonly pending = new Map<number, Pending>();
  order: number[] = [];
  /** Every undelivered event with seq <= this is in `pending` (once `scanned`). */
  knownThrough = 0;
  scanned = false;
  /** Handed-over events above `knownThrough`, waiting for the ones before them. */
  readonly ahead = new Set<number>();
  /** Resources with events handed to the sink whose outcome has not come back, and those batches. */
  readonly busyKeys = new Map<string, number>();
  readonly batches = new Set<Promise<void>>();
  /** Outcomes not yet written to the store, by seq (the latest wins), and the delivered ones among them. */
  marks = new Map<number, Mark>();
  readonly unwrittenDeliveries = new Set<number>();
  writing: Promise<void> = Promise.resolve();
  lastWriteAt = 0;
  needScan = true;
  lastScanAt = 0;
  woken = false;
  wakeUp?: () => void;
  failing = false;
  done?: Promise<void>;

  constructor(readonly sink: Sink) {}

  add(p: Pending): void {
    if (this.pending.has(p.event.seq)) return;
    this.pending.set(p.event.seq, p);
    const seq = p.event.seq;
    if (this.order.length === 0 || seq > this.order[this.order.length - 1]) this.order.push(seq);
    else this.order.splice(lowerBound(this.order, seq), 0, seq);
  }

  remove(seqs: Set<number>): void {
    for (const s of seqs) this.pending.delete(s);
    this.order = this.order.filter((s) => !seqs.has(s));
  }
}

function lowerBound(a: number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
