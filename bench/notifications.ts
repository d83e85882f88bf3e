// Notifications throughput and latency with 100 operations in flight at all
// times: events per second from the outbox to the JSON-lines file and to a real
// RabbitMQ (publisher confirms, persistent messages, durable queues), and the
// latency from the state change (the event's timestamp, taken inside the
// transaction) to an amqplib consumer in a process of its own. Two loads: the
// agents answer at once (the controller saturated: its throughput ceiling) and
// the agents take long enough that the offered load is a third of that ceiling.
// Baselines from the same run: the same lines appended and fdatasync'd straight
// to a file, the same envelopes published straight to the broker with confirms,
// the broker's own publish-to-consume latency, and the operations with the
// outbox written but nothing delivered.
//
// The controller side is the real one (OperationService, store transactions,
// Notifier, Dispatcher, sinks); the agents answer in-process, so the numbers
// are about the notification path, not the wire (bench/noop-roundtrip.ts).
//   npx tsx bench/notifications.ts [operations] [concurrency]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { connect } from 'amqplib';
import { AgentRegistry } from '../controller/agent-registry.js';
import { OperationService } from '../controller/operations.js';
import { CommandCodec } from '../controller/command-codec.js';
import { SecretBox } from '../controller/secret-box.js';
import { createNotifications, type Notifications } from '../controller/notifications/index.js';
import { notificationsConfigSchema } from '../controller/notifications/config.js';
import { osloEnvelope, osloTimestamp } from '../controller/notifications/message.js';
import { openSqliteStore, type Store } from '../controller/store/open.js';
import { createLogger } from '../managers/sdk/logger.js';
import { tempDir } from '../test/fixtures/controller.js';
import { startRabbitMq, type RabbitMq } from '../test/fixtures/rabbitmq.js';
import { ms, ratio, summarize } from './stats.js';
import { ALL_TENANTS } from '../controller/tenancy.js';
import { DatastoreCatalog } from '../controller/catalog.js';
import { DONE, payload } from '../managers/sdk/operations/payload.js';
import { updates } from '../managers/sdk/operations/state.js';

const OPS = Number(process.argv[2] ?? 2_000);
const CONCURRENCY = Number(process.argv[3] ?? 100);
const EVENTS = OPS * 2; // .start and .end
/** The paced run offers this share of the throughput the saturated run measured. */
const PACED_SHARE = 1 / 3;
const RUNS = 3;
const CONSUMER = fileURLToPath(new URL('./notifications-consumer.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const log = createLogger('bench', { level: 'warn' });

interface Setup {
  store: Store;
  notifications: Notifications;
  operations: OperationService;
  instanceIds: string[];
  dir: string;
}

/** A controller's store, operations and notifications, with CONCURRENCY instances whose agents answer after `agentMs`. */
type Sinks = { file: boolean; amqp?: { url: string; exchange: string } };

function notificationsFor(store: Store, dir: string, sinks: Sinks, dispatch: boolean): Notifications {
  const config = notificationsConfigSchema.parse({
    publisherId: 'steward.controller.bench',
    file: { enabled: sinks.file, path: join(dir, 'notifications.jsonl') },
    // The consumer's own durable queue is the only one: the default queues would fill up unread.
    amqp: sinks.amqp ? { enabled: true, declareQueues: false, durable: true, ...sinks.amqp } : { enabled: false },
    dispatch: { enabled: dispatch },
  });
  return createNotifications(config, { store, dataDir: dir, caller: async () => ({ tenantId: 'bench', admin: true, scope: ALL_TENANTS }), log });
}

async function setUp(sinks: Sinks, agentMs = 0, dispatch = true): Promise<Setup> {
  const dir = tempDir('steward-bench-notif-');
  const store = await openSqliteStore(join(dir, 'steward.db'));
  const notifications = notificationsFor(store, dir, sinks, dispatch);
  const agents = new AgentRegistry();
  const catalog = await DatastoreCatalog.load();
  const operations = new OperationService(
    store,
    agents,
    catalog,
    log,
    notifications.notifier,
    new CommandCodec(SecretBox.loadOrCreate(join(dir, 'secrets.key'))),
  );
  const now = new Date().toISOString();
  const instanceIds = Array.from({ length: CONCURRENCY }, () => randomUUID());
  for (const [i, id] of instanceIds.entries()) {
    await store
      .insertInto('instances')
      .values({
        id,
        tenant_id: 'bench',
        name: `bench-${i}`,
        datastore: 'mysql',
        datastore_version: '10.11',
        memory_mb: 512,
        task: 'NONE',
        pending_restart: '[]',
        volume_size_mb: 0,
        task_message: '',
        host: '127.0.0.1',
        port: 3306,
        created_at: now,
        updated_at: now,
        deleted_at: null,
      })
      .execute();
    agents.attach(id, {
      send: (msg) => {
        if (msg.body?.$case !== 'command') return;
        const { operationId } = msg.body.value;
        const answer = () => void operations.applyUpdate(id, updates.succeeded(operationId, DONE));
        if (agentMs > 0) setTimeout(answer, agentMs);
        else setImmediate(answer);
      },
      close: () => undefined,
    });
  }
  await notifications.start();
  return { store, notifications, operations, instanceIds, dir };
}

async function tearDown(s: Setup): Promise<void> {
  await s.notifications.stop();
  await s.store.destroy();
  await rm(s.dir, { recursive: true, force: true });
}

/** `ops` create_databases operations, CONCURRENCY in flight; resolves when all have finished. */
async function workload(s: Setup, ops = OPS): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    s.instanceIds.map(async (id) => {
      while (next < ops) {
        const n = next++;
        const op = await s.operations.start(
          id,
          payload('createDatabases', { databases: [{ name: `db${n}`, characterSet: '', collation: '', ctype: '', replication: {} }] }),
        );
        await s.operations.wait(op.id, 120_000);
      }
    }),
  );
  return performance.now() - t0;
}

interface Consumer {
  count(): number;
  /** Arrival minus state change, per message, in ms. */
  latencies(): number[];
  stop(): Promise<void>;
}

/** bench/notifications-consumer.ts in its own process, so that its clock is not held up by the controller's busy event loop. */
async function startConsumer(url: string, exchange: string): Promise<Consumer> {
  const child = spawn(process.execPath, ['--import', TSX, CONSUMER, url, exchange], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seen = new Set<string>();
  const latencies: number[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') return ready();
    const [id, arrived, changed] = line.split(' ');
    if (seen.has(id)) return;
    seen.add(id);
    latencies.push(Number(arrived) - Number(changed));
  });
  await isReady;
  return {
    count: () => seen.size,
    latencies: () => latencies,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const perSecond = (n: number, msElapsed: number) => (n / msElapsed) * 1000;
/** a as a share of b: "0.8x", or "1/400" when far below. */
const share = (a: number, b: number) => (a / b >= 0.1 ? ratio(a, b) : `1/${Math.round(b / a)}`);
const eps = (v: number) => `${Math.round(v).toLocaleString('en-US')} events/s`.padEnd(16);
const pct = (l: number[]) => {
  const x = summarize(l);
  return `p50 ${ms(x.p50)}  p90 ${ms(x.p90)}  p99 ${ms(x.p99)}  (n=${x.n})`;
};

async function waitUntil(fn: () => Promise<boolean> | boolean, timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('bench: timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sampleNotification = (i: number) => ({
  message_id: randomUUID(),
  publisher_id: 'steward.controller.bench',
  event_type: 'database.create.end',
  priority: 'INFO' as const,
  payload: {
    instance_id: randomUUID(),
    instance_name: `bench-${i}`,
    tenant_id: 'bench',
    datastore: 'mysql',
    datastore_version: '10.11',
    operation_id: randomUUID(),
    databases: [{ name: `db${i}` }],
  },
  timestamp: osloTimestamp(),
});

/** The same lines appended straight to a file, fdatasync'd per batch of the dispatcher's size. */
async function rawFile(): Promise<number> {
  const dir = tempDir('steward-bench-raw-');
  const h = await open(join(dir, 'raw.jsonl'), 'a');
  const lines = Array.from({ length: EVENTS }, (_, i) => `${JSON.stringify(sampleNotification(i))}\n`);
  const t0 = performance.now();
  for (let i = 0; i < lines.length; i += 500) {
    await h.appendFile(lines.slice(i, i + 500).join(''));
    await h.datasync();
  }
  const elapsed = performance.now() - t0;
  await h.close();
  await rm(dir, { recursive: true, force: true });
  return perSecond(EVENTS, elapsed);
}

/** The same envelopes published straight to the broker (persistent, confirms, all in flight) until the consumer has them; then one at a time for latency. */
async function rawAmqp(rabbit: RabbitMq): Promise<{ rate: number; latencies: number[] }> {
  const exchange = `raw-${randomUUID().slice(0, 8)}`;
  const conn = await connect(rabbit.url);
  const ch = await conn.createConfirmChannel();
  await ch.assertExchange(exchange, 'topic', { durable: true, autoDelete: false });
  const consumer = await startConsumer(rabbit.url, exchange);
  const publish = (i: number) => {
    const n = sampleNotification(i);
    const stamped = { ...n, payload: { ...n.payload, sent: performance.timeOrigin + performance.now() } };
    ch.publish(exchange, 'notifications.info', Buffer.from(JSON.stringify(osloEnvelope(stamped))), { persistent: true, contentType: 'application/json' });
  };
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) publish(i);
  await ch.waitForConfirms();
  await waitUntil(() => consumer.count() >= EVENTS);
  const rate = perSecond(EVENTS, performance.now() - t0);
  const burst = consumer.count();
  for (let i = 0; i < 300; i++) {
    publish(i);
    await waitUntil(() => consumer.count() > burst + i);
  }
  const latencies = consumer.latencies().slice(burst);
  await consumer.stop();
  await conn.close();
  return { rate, latencies };
}

/** Runs the workload and waits until every event reached the sinks given. */
async function deliveredRun(rabbit: RabbitMq, sinks: { file: boolean; amqp: boolean }, agentMs = 0, ops = OPS): Promise<{ rate: number; latencies: number[] }> {
  const exchange = `bench-${randomUUID().slice(0, 8)}`;
  const consumer = sinks.amqp ? await startConsumer(rabbit.url, exchange) : undefined;
  const s = await setUp({ file: sinks.file, amqp: sinks.amqp ? { url: rabbit.url, exchange } : undefined }, agentMs);
  const t0 = performance.now();
  await workload(s, ops);
  await waitUntil(async () => (!consumer || consumer.count() >= ops * 2) && (!sinks.file || (await s.notifications.dispatcher!.backlog('file')) === 0));
  const rate = perSecond(ops * 2, performance.now() - t0);
  await tearDown(s);
  const latencies = consumer?.latencies() ?? [];
  await consumer?.stop();
  return { rate, latencies };
}

/**
 * The outbox pipeline alone: the events are written by a controller that does
 * not dispatch, then one that does (as after a fail-over or a broker outage)
 * delivers the whole backlog with nothing else to do.
 */
async function drainRun(rabbit: RabbitMq, sinks: { file: boolean; amqp: boolean }): Promise<number> {
  const exchange = `drain-${randomUUID().slice(0, 8)}`;
  const consumer = sinks.amqp ? await startConsumer(rabbit.url, exchange) : undefined;
  const target: Sinks = { file: sinks.file, amqp: sinks.amqp ? { url: rabbit.url, exchange } : undefined };
  const s = await setUp(target, 0, false);
  await workload(s);
  await s.notifications.stop();
  const dispatching = notificationsFor(s.store, s.dir, target, true);
  const t0 = performance.now();
  await dispatching.start();
  await waitUntil(async () => (!consumer || consumer.count() >= EVENTS) && (!sinks.file || (await dispatching.dispatcher!.backlog('file')) === 0));
  const rate = perSecond(EVENTS, performance.now() - t0);
  await tearDown({ ...s, notifications: dispatching });
  await consumer?.stop();
  return rate;
}

async function main(): Promise<void> {
  console.log(`notifications: ${OPS} operations (${EVENTS} events), ${CONCURRENCY} in flight, SQLite store (synchronous=FULL); median of ${RUNS} runs`);
  console.log(
    `machine: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the start\n`,
  );
  const rabbit = await startRabbitMq();
  try {
    // Warm-up (JIT, module loading, the broker's first queues), not measured.
    await deliveredRun(rabbit, { file: true, amqp: true }, 0, Math.min(OPS, 500));
    // Each throughput run three times, interleaved so that a noisy neighbour hits them alike; the median run counts.
    const runs: Record<'bare' | 'file' | 'amqp' | 'both', Array<{ rate: number; latencies: number[] }>> = { bare: [], file: [], amqp: [], both: [] };
    for (let i = 0; i < RUNS; i++) {
      const bare = await setUp({ file: false });
      runs.bare.push({ rate: perSecond(EVENTS, await workload(bare)), latencies: [] });
      await tearDown(bare);
      runs.file.push(await deliveredRun(rabbit, { file: true, amqp: false }));
      runs.amqp.push(await deliveredRun(rabbit, { file: false, amqp: true }));
      runs.both.push(await deliveredRun(rabbit, { file: true, amqp: true }));
    }
    const median = (list: Array<{ rate: number; latencies: number[] }>) => [...list].sort((a, b) => a.rate - b.rate)[Math.floor(list.length / 2)];
    const bareRate = median(runs.bare).rate;
    const [file, amqp, both] = [median(runs.file), median(runs.amqp), median(runs.both)];
    // Each of the CONCURRENCY slots runs one operation per agentMs: offered ops/s = CONCURRENCY / agentMs.
    const agentMs = Math.round((CONCURRENCY / ((both.rate / 2) * PACED_SHARE)) * 1000);
    const pacedOps = Math.min(OPS, CONCURRENCY * 8);
    const paced = await deliveredRun(rabbit, { file: true, amqp: true }, agentMs, pacedOps);
    const drainFile = await drainRun(rabbit, { file: true, amqp: false });
    const drainAmqp = await drainRun(rabbit, { file: false, amqp: true });
    const rawFileRate = await rawFile();
    const raw = await rawAmqp(rabbit);

    console.log('throughput, agents answering at once (the controller saturated):');
    console.log(`  operations, outbox written, nothing delivered:   ${eps(bareRate)} (${Math.round(bareRate / 2)} operations/s)`);
    console.log(`  outbox -> JSON-lines file (fdatasync per batch):  ${eps(file.rate)} ${ratio(file.rate, bareRate)} of the above`);
    console.log(`  outbox -> RabbitMQ (confirms, persistent):        ${eps(amqp.rate)} ${ratio(amqp.rate, bareRate)} of the above`);
    console.log(`  outbox -> file + RabbitMQ:                        ${eps(both.rate)} ${ratio(both.rate, bareRate)} of the above`);
    console.log('the pipeline alone: a backlog in the outbox drained, nothing else running:');
    console.log(`  outbox -> JSON-lines file:                        ${eps(drainFile)}`);
    console.log(`  outbox -> RabbitMQ:                               ${eps(drainAmqp)}`);
    console.log('baselines, nothing but the sink:');
    console.log(`  raw append + fdatasync, 500-line batches:         ${eps(rawFileRate)} draining to the file at ${share(drainFile, rawFileRate)} of it`);
    console.log(`  raw amqplib publish with confirms, all in flight: ${eps(raw.rate)} draining to RabbitMQ at ${share(drainAmqp, raw.rate)} of it`);
    console.log('latency, state change -> amqplib consumer (another process):');
    console.log(`  saturated, AMQP only:        ${pct(amqp.latencies)}`);
    console.log(`  saturated, file + AMQP:      ${pct(both.latencies)}`);
    console.log(`  a third of that load, file + AMQP: ${pct(paced.latencies)}`);
    console.log(`      (agents take ${agentMs} ms per operation: ${Math.round(paced.rate)} events/s)`);
    console.log(`  raw publish -> consume, one at a time: ${pct(raw.latencies)}`);
    console.log(`  ratio (p50), a third of the load vs raw: ${ratio(summarize(paced.latencies).p50, summarize(raw.latencies).p50)}`);
  } finally {
    await rabbit.close();
  }
}

await main();
