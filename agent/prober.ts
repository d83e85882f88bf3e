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
    try {
      this.last = await this.probe();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'probe failed');
      this.last = { status: DatastoreStatus.UNKNOWN, version: this.last.version, facts: { error: (err as Error).message } };
    } finally {
      this.inFlight = false;
    }
    return this.last;
  }
}
