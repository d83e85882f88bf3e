// Probes the datastore on its own timer and keeps the last answer, so that a
// heartbeat never waits on a slow datastore and a hung probe never stacks up.
import type { Probe } from '../managers/sdk/contract.js';
import { DatastoreStatus } from '../managers/sdk/types.js';
import type { Logger } from '../managers/sdk/logger.js';

export class Prober {
  private last: Probe = { status: DatastoreStatus.UNKNOWN, version: '', facts: {} };
  private timer?: NodeJS.Timeout;
  private inFlight = false;

  constructor(
    private readonly probe: () => Promise<Probe>,
    private readonly intervalMs: number,
    private readonly log: Logger,
    /** Called when the status or the replication role changes, so the news goes out before the next heartbeat. */
    private readonly onChange: (p: Probe) => void = () => undefined,
  ) {}

  start(): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get current(): Probe {
    return this.last;
  }

  async tick(): Promise<Probe> {
    if (this.inFlight) return this.last;
    this.inFlight = true;
    const before = this.last;
    try {
      this.last = await this.probe();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'probe failed');
      this.last = { status: DatastoreStatus.UNKNOWN, version: this.last.version, facts: { error: (err as Error).message } };
    } finally {
      this.inFlight = false;
    }
    const r0 = before.replication;
    const r1 = this.last.replication;
    if (before.status !== this.last.status || r0?.role !== r1?.role || r0?.fenced !== r1?.fenced || r0?.connected !== r1?.connected) this.onChange(this.last);
    return this.last;
  }
}
