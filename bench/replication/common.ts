// What the switchover and failover benchmarks share: a replica set of three
// run by Steward (controller, agents, real servers), the same three-server
// topology driven by hand with the datastore's own commands, and a client
// that writes a numbered row every 10 ms and records what was acknowledged.
// Write unavailability is the longest gap between two acknowledged writes
// around the event; lost writes are acknowledged rows the new primary lacks.
import { startTestController, waitFor, type TestController } from '../../test/fixtures/controller.js';
import { allFollowing, createInstance, getSet, healthy, lostWrites, Writer, type WriterClient } from '../../test/fixtures/replication.js';
import type { CreateInstanceRequest, DeepPartial } from '../../proto/gen/steward/v1/api.js';
import { summarize } from '../stats.js';

/** One datastore as the benchmarks drive it. */
export interface DatastoreBench {
  name: string;
  /** The primary as Steward creates it (with the database and user the writer uses). */
  primaryRequest: DeepPartial<CreateInstanceRequest>;
  /** Prepares the writer's table (or key space) on a new primary. */
  setUp(host: string, port: number): Promise<void>;
  writer(host: string, port: number): Promise<WriterClient>;
  rows(host: string, port: number): Promise<number[]>;
  /** Adds about `mb` MB of data on the primary (the rejoin benchmark's data set). */
  load(host: string, port: number, mb: number): Promise<void>;
  /** The pid of a Steward instance's server process. */
  serverPid(t: TestController, instanceId: string): number;
  /** Three servers of the datastore replicating by hand, no Steward in the way. */
  byHand(): Promise<ByHand>;
}

export interface Endpoint {
  host: string;
  port: number;
}

/** A primary and two replicas driven with the datastore's own commands. */
export interface ByHand {
  /** Members in order; `primary` is an index into it. */
  members: Endpoint[];
  primary: number;
  /** Fence the primary, let `to` catch up, promote it, re-point the others and the old primary. */
  switchover(to: number): Promise<void>;
  /** Kill -9 the primary's server, promote `to` at once, re-point the other; the dead one is rebuilt as a replica (not timed). */
  failover(to: number): Promise<void>;
  /** Brings the killed server back as a replica of the primary (between trials, not timed). */
  heal(): Promise<void>;
  close(): Promise<void>;
}

export interface Trial {
  unavailableMs: number;
  lost: number;
  acknowledged: number;
}

export function report(label: string, trials: Trial[]): { p50: number; p95: number; max: number } {
  const s = summarize(trials.map((t) => t.unavailableMs));
  const p95 = [...trials.map((t) => t.unavailableMs)].sort((a, b) => a - b)[Math.min(trials.length - 1, Math.floor(0.95 * trials.length))];
  const max = Math.max(...trials.map((t) => t.unavailableMs));
  const lost = trials.reduce((n, t) => n + t.lost, 0);
  const acked = trials.reduce((n, t) => n + t.acknowledged, 0);
  console.log(`${label.padEnd(44)} n=${trials.length}  unavailable p50 ${s.p50} ms  p95 ${p95} ms  max ${max} ms  lost ${lost}/${acked} acknowledged`);
  return { p50: s.p50, p95, max };
}

/** A Steward replica set of three on a fresh controller. */
export async function stewardSet(
  ds: DatastoreBench,
  opts: { synchronous?: boolean; controller?: Record<string, unknown> } = {},
): Promise<{ t: TestController; setId: string }> {
  const t = await startTestController({ missedHeartbeats: 10, replication: { unresponsiveMs: 3_000 }, ...opts.controller });
  const created = await createInstance(t, { name: 'bench', ...ds.primaryRequest });
  const primary = await healthy(t, created.instance!.id);
  await ds.setUp(primary.host, primary.port);
  const res = await createInstance(t, { name: 'bench-ro', replicaOf: primary.id, replicaCount: 2, synchronous: opts.synchronous });
  const setId = res.instance!.replicaSetId;
  await allFollowing(t, setId, 600_000);
  return { t, setId };
}

/** Runs `event` while a client writes every 10 ms through Steward's view of the primary. */
export async function stewardTrial(t: TestController, setId: string, ds: DatastoreBench, start: number, event: () => Promise<void>): Promise<Trial> {
  const w = new Writer(t, setId, ds.writer, start).start();
  await waitFor('writes flowing', async () => w.count > 20);
  await event();
  const at = w.count;
  await waitFor('writes flowing again', async () => w.count > at + 20, 120_000, 20);
  const r = await w.stop();
  const s = await getSet(t, setId);
  const p = s.members.find((m) => m.instanceId === s.primaryId)!;
  const lost = lostWrites(r.acknowledged, await ds.rows(p.host, p.port)).length;
  return { unavailableMs: r.longestGapMs, lost, acknowledged: r.acknowledged.length };
}

/** The same client against the hand-driven servers: it follows `current()` as the script changes it. */
export async function handTrial(h: ByHand, ds: DatastoreBench, start: number, event: () => Promise<void>): Promise<Trial> {
  let next = start;
  let stopped = false;
  const acked: number[] = [];
  let last = Date.now();
  let longest = 0;
  const loop = (async () => {
    let client: WriterClient | undefined;
    let target = -1;
    while (!stopped) {
      const tick = Date.now();
      try {
        if (!client || target !== h.primary) {
          await client?.close().catch(() => undefined);
          target = h.primary;
          client = await ds.writer(h.members[target].host, h.members[target].port);
        }
        const n = next++;
        await client.insert(n);
        acked.push(n);
        const now = Date.now();
        longest = Math.max(longest, now - last);
        last = now;
      } catch {
        await client?.close().catch(() => undefined);
        client = undefined;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - tick))));
    }
    await client?.close().catch(() => undefined);
  })();
  await waitFor('writes flowing', async () => acked.length > 20);
  await event();
  const at = acked.length;
  await waitFor('writes flowing again', async () => acked.length > at + 20, 120_000, 20);
  stopped = true;
  await loop;
  const p = h.members[h.primary];
  return { unavailableMs: longest, lost: lostWrites(acked, await ds.rows(p.host, p.port)).length, acknowledged: acked.length };
}

export async function datastoreOf(name: string): Promise<DatastoreBench> {
  switch (name) {
    case 'mysql':
      return (await import('./mysql.js')).mysqlBench;
    case 'postgresql':
      return (await import('./postgresql.js')).postgresqlBench;
    case 'redis':
      return (await import('./redis.js')).redisBench;
    default:
      throw new Error(`no replication benchmark for datastore "${name}" (mysql, postgresql, redis)`);
  }
}
