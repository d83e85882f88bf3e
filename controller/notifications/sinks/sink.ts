// What the dispatcher needs from a destination.
import type { OutboxEvent } from '../types.js';

export interface Sink {
  /** Stable name: delivery marks are stored under it. */
  readonly name: string;
  /**
   * How many events of one resource may be in one batch. A sink whose batch
   * succeeds or fails as a whole can take many; one that can lose an event in
   * the middle of a batch takes one, so that a later event of the same
   * resource is never delivered before an earlier one succeeded.
   */
  readonly maxPerKey: number;
  /** How many batches may be on their way at once (each holding different resources); default 1. */
  readonly maxInFlight?: number;
  /** Delivers a batch; the result says, per event, undefined (delivered) or why not. */
  deliver(events: OutboxEvent[]): Promise<Array<Error | undefined>>;
  /** Connects ahead of the first batch, so that it does not pay for it (failures are left to deliver()). */
  open?(): Promise<void>;
  close(): Promise<void>;
}
