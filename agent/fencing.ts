// The agent's half of "at most one writable primary, ever" (docs/replication.md):
//   - terms: every replication command carries its replica set's term; the
//     highest one accepted is kept in the journal (it survives kill -9), and a
//     command with an older term is refused before it runs: a controller (or
//     a delayed message) that lost track can never promote or re-point anyone;
//   - the write lease: the controller answers a primary's heartbeats; a
//     primary that has heard nothing for `leaseMs` refuses writes by itself.
//     The controller fails over a lost primary only after that lease has run
//     out (plus a margin), so the old one has stopped taking writes by then.
import { failedPrecondition } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';
import type { Journal } from './journal.js';

const TERM_KEY = 'replication_term';
const SELF_FENCED_KEY = 'self_fenced_at';

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
  private lastContact = Date.now();
  private timer?: NodeJS.Timeout;
  private fencing = false;

  constructor(private readonly d: LeaseDeps) {}

  /** Any message from the controller renews the lease. */
  renew(): void {
    this.lastContact = Date.now();
  }

  /** When this agent fenced itself last, if it did (reported until the controller decides). */
  get selfFencedAt(): string | undefined {
    return this.d.journal.getMeta(SELF_FENCED_KEY) || undefined;
  }

  clearSelfFenced(): void {
    this.d.journal.setMeta(SELF_FENCED_KEY, '');
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), Math.max(100, Math.floor(this.d.leaseMs / 5)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async check(now = Date.now()): Promise<boolean> {
    const silentMs = now - this.lastContact;
    if (this.fencing || silentMs <= this.d.leaseMs || !this.d.holdsLease()) return false;
    this.fencing = true;
    try {
      this.d.log.warn({ silentMs, leaseMs: this.d.leaseMs }, 'write lease expired without word from the controller: refusing writes');
      await this.d.fence();
      this.d.journal.setMeta(SELF_FENCED_KEY, new Date(now).toISOString());
      return true;
    } catch (err) {
      this.d.log.error({ err: (err as Error).message }, 'could not fence the datastore after the lease expired; trying again');
      return false;
    } finally {
      this.fencing = false;
    }
  }
}
