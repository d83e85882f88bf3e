// Heartbeats without a write each. What an agent reports (status, facts,
// datastore version, replication) is written when it changes; when it last
// spoke lives in the AgentRegistry (every reader goes through `live()`) and is
// written in batches every `flushMs`: after a restart its only consumer that
// matters, the lost-agent sweep, counts from the controller's own start
// anyway. Trove's conductor wrote every heartbeat; at 10,000 agents and a 10 s
// interval that is 1,000 commits (and disk flushes) a second.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Heartbeat } from '../proto/gen/steward/v1/agent.js';
import type { Logger } from '../managers/sdk/logger.js';
import type { AgentRegistry } from './agent-registry.js';
import type { Store } from './store/open.js';
import { encodeReplication } from './replication/report.js';

/** Rows per transaction when the last-seen times are written: the event loop is never held long. */
const FLUSH_CHUNK = 500;
/** Handling times kept per stats window (a sample beyond this is dropped). */
const MAX_SAMPLES = 100_000;

export interface HeartbeatOptions {
  /** How often the last-seen times are written (ms). */
  flushMs: number;
  /** How often a line of gateway statistics is logged (ms; 0: never). */
  statsMs: number;
}

export class HeartbeatRecorder {
  /** The report last written per agent: an identical one is not written again. */
  private readonly written = new Map<string, string>();
  private flushedUpTo = 0;
  private flushing?: Promise<void>;
  private flushTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private readonly handling: number[] = [];
  private heartbeats = 0;
  private writes = 0;
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(
    private readonly store: Store,
    private readonly agents: AgentRegistry,
    private readonly log: Logger,
    private readonly opts: HeartbeatOptions,
  ) {}

  start(): void {
    this.flushTimer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.flushTimer.unref();
    if (this.opts.statsMs > 0) {
      this.loopDelay.enable();
      this.statsTimer = setInterval(() => this.logStats(), this.opts.statsMs);
      this.statsTimer.unref();
    }
  }

  /** Stops the timers and writes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.statsTimer);
    this.loopDelay.disable();
    await this.flush();
  }

  /** Records a heartbeat received at `receivedAt`: in memory, plus a write when the report changed. */
  async record(instanceId: string, hb: Heartbeat, receivedAt: number): Promise<void> {
    this.agents.seen(instanceId, receivedAt);
    this.heartbeats++;
    const report = {
      status: hb.status,
      facts: JSON.stringify(hb.facts),
      ...(hb.datastoreVersion ? { datastore_version: hb.datastoreVersion } : {}),
      // A probe that got no answer says nothing about replication: the last report stands.
      ...(hb.replication ? { replication: encodeReplication(hb.replication) } : {}),
    };
    const key = reportKey(report);
    if (this.written.get(instanceId) !== key) {
      await this.store
        .updateTable('agents')
        .set({ last_heartbeat_at: new Date(receivedAt).toISOString(), ...report })
        .where('instance_id', '=', instanceId)
        .execute();
      this.written.set(instanceId, key);
      this.writes++;
    }
  }

  /** Notes how long a heartbeat took from its arrival (performance.now() then) to being recorded. */
  handled(startedAt: number): void {
    if (this.handling.length < MAX_SAMPLES) this.handling.push(performance.now() - startedAt);
  }

  /** At a Hello: what the store holds for the agent, so that a heartbeat saying the same is not written again. */
  primeFrom(row: { instance_id: string; status: number; facts: string; datastore_version: string; replication: string | null }): void {
    this.written.set(
      row.instance_id,
      reportKey({
        status: row.status,
        facts: row.facts,
        ...(row.datastore_version ? { datastore_version: row.datastore_version } : {}),
        ...(row.replication ? { replication: row.replication } : {}),
      }),
    );
  }

  /** Writes when agents last spoke, in short transactions. */
  flush(): Promise<void> {
    this.flushing ??= this.writeLastSeen().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async writeLastSeen(): Promise<void> {
    const since = this.flushedUpTo;
    this.flushedUpTo = Date.now();
    const rows = this.agents.seenSince(since);
    for (let i = 0; i < rows.length; i += FLUSH_CHUNK) {
      await this.store.transaction().execute(async (trx) => {
        for (const [instanceId, at] of rows.slice(i, i + FLUSH_CHUNK)) {
          const iso = new Date(at).toISOString();
          await trx
            .updateTable('agents')
            .set({ last_heartbeat_at: iso })
            .where('instance_id', '=', instanceId)
            .where((eb) => eb.or([eb('last_heartbeat_at', 'is', null), eb('last_heartbeat_at', '<', iso)]))
            .execute();
        }
      });
      await new Promise((r) => setImmediate(r));
    }
  }

  private logStats(): void {
    const sorted = this.handling.splice(0).sort((a, b) => a - b);
    const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(2) : '0');
    this.log.info(
      {
        connected: this.agents.connectedCount,
        heartbeats: this.heartbeats,
        heartbeatWrites: this.writes,
        handlingP50Ms: Number(pct(0.5)),
        handlingP99Ms: Number(pct(0.99)),
        eventLoopDelayP99Ms: Number((this.loopDelay.percentile(99) / 1e6).toFixed(2)),
        rssMiB: Math.round(process.memoryUsage.rss() / 1048576),
      },
      'gateway statistics',
    );
    this.heartbeats = 0;
    this.writes = 0;
    this.loopDelay.reset();
  }
}

/** One report as a comparable string (the same fields in the same order as written). */
function reportKey(r: { status: number; facts: string; datastore_version?: string; replication?: string | null }): string {
  return JSON.stringify([r.status, r.facts, r.datastore_version ?? null, r.replication ?? null]);
}
