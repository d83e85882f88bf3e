// The agent's half of "at most one writable primary, ever" (docs/replication.md):
//   - terms: every replication command carries its replica set's term; the
//     highest one accepted is kept in the journal (it survives kill -9), and a
//     command with an older term is refused before it runs: a controller (or
//     a delayed message) that lost track can never promote or re-point anyone;
//   - the write lease: the controller answers a primary's heartbeats with a
//     grant that echoes when the heartbeat left; a primary without a grant
//     for `leaseMs` since then refuses writes by itself. The controller fails
//     over a lost primary only once `leaseMs` plus a margin has passed since
//     the last heartbeat it received (which left no earlier than the last
//     grant's), so the old one has stopped taking writes by then.
import { failedPrecondition } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import type { Journal } from './journal.js';

const TERM_KEY = 'replication_term';
const GRANTED_KEY = 'write_lease_granted_at';

export class Terms {
  constructor(private readonly journal: Journal) {}

  /** The highest term accepted so far (0: none). */
  get current(): number {
    return Number(this.journal.getMeta(TERM_KEY) ?? 0);
  }

  /** Refuses an older term; records a newer one (before the command runs, so a late older one is refused too). */
  accept(term: number, kind: string): void {
    const current = this.current;
    if (term < current) throw failedPrecondition(`${kind} carries replication term ${term}, older than term ${current} this instance has accepted: refused`);
    if (term > current) this.journal.setMeta(TERM_KEY, String(term));
  }
}

export interface LeaseDeps {
  leaseMs: number;
  journal: Journal;
  /** Whether this instance holds the write lease now: a primary of a replica set, not fenced. */
  holdsLease(): boolean;
  /** Refuses writes (the manager's fence). */
  fence(): Promise<void>;
  log: Logger;
}

export class WriteLease {
  /** When the lease was last granted (ms, agent clock); persisted so that a restarted agent does not grant itself one. */
  private grantedAt: number;
  private timer?: NodeJS.Timeout;
  private fencing = false;

  constructor(private readonly d: LeaseDeps) {
    this.grantedAt = Number(d.journal.getMeta(GRANTED_KEY) ?? 0);
  }

  /** A grant for the heartbeat sent at `sentAtMs` (never moves the lease back; never beyond now). */
  renew(sentAtMs: number, now = Date.now()): void {
    const at = Math.min(sentAtMs, now);
    if (at <= this.grantedAt) return;
    this.grantedAt = at;
    this.d.journal.setMeta(GRANTED_KEY, String(at));
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), Math.max(100, Math.floor(this.d.leaseMs / 5)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** No grant for longer than the lease (at start-up: since before the agent stopped). */
  expired(now = Date.now()): boolean {
    return now - this.grantedAt > this.d.leaseMs;
  }

  async check(now = Date.now()): Promise<boolean> {
    // At start-up the persisted grant counts: an agent away longer than its
    // lease fences before its datastore takes another write.
    const holds = this.d.holdsLease();
    const silentMs = now - this.grantedAt;
    if (this.fencing || !holds || silentMs <= this.d.leaseMs) return false;
    this.fencing = true;
    try {
      this.d.log.warn({ silentMs, leaseMs: this.d.leaseMs }, 'write lease expired without a grant from the controller: refusing writes');
      await this.d.fence();
      return true;
    } catch (err) {
      this.d.log.error({ err: (err as Error).message }, 'could not fence the datastore after the lease expired; trying again');
      return false;
    } finally {
      this.fencing = false;
    }
  }
}
