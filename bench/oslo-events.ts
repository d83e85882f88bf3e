// Events per second delivered to a real oslo.messaging notification listener
// (python, its own process, the `threading` executor: what Ceilometer runs)
// under the notifications bench's load: create_databases operations with 100
// in flight, agents answering in-process, each raising .start and .end
// through the real OperationService, store transactions, Notifier, Dispatcher
// and AMQP sink, with oslo.messaging's default settings (exchange `trove`,
// not durable). Baselines from the same run: the same load to an amqplib
// consumer (bench/notifications-consumer.ts, durable exchange), and the
// listener draining the same number of events already queued at the broker
// (its own ceiling, the controller idle).
//   npx tsx bench/oslo-events.ts [operations] [concurrency]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AgentRegistry } from '../controller/agent-registry.js';
import { DatastoreCatalog } from '../controller/catalog.js';
import { CommandCodec } from '../controller/command-codec.js';
import { notificationsConfigSchema } from '../controller/notifications/config.js';
import { createNotifications, type Notifications } from '../controller/notifications/index.js';
import { OperationService } from '../controller/operations.js';
import { SecretBox } from '../controller/secret-box.js';
import { openSqliteStore, type Store } from '../controller/store/open.js';
import { ALL_TENANTS } from '../controller/tenancy.js';
import { createLogger } from '../managers/sdk/logger.js';
import { DONE, payload } from '../managers/sdk/operations/payload.js';
import { updates } from '../managers/sdk/operations/state.js';
import { tempDir } from '../test/fixtures/controller.js';
import { startOsloListener, type OsloListener } from '../test/fixtures/python.js';
import { startRabbitMq, type RabbitMq } from '../test/fixtures/rabbitmq.js';

const OPS = Number(process.argv[2] ?? 2_000);
const CONCURRENCY = Number(process.argv[3] ?? 100);
const EVENTS = OPS * 2;
const RUNS = 3;
const CONSUMER = fileURLToPath(new URL('./notifications-consumer.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const log = createLogger('bench', { level: 'error' });

interface Setup {
  store: Store;
  notifications: Notifications;
  operations: OperationService;
  instanceIds: string[];
  dir: string;
}

async function setUp(amqp: Record<string, unknown>, dispatch = true): Promise<Setup> {
  const dir = tempDir('steward-bench-oslo-');
  const store = await openSqliteStore(join(dir, 'steward.db'));
  const config = notificationsConfigSchema.parse({
    publisherId: 'steward.controller.bench',
    file: { enabled: false },
    amqp: { enabled: true, ...amqp },
    dispatch: { enabled: dispatch },
  });
  const notifications = createNotifications(config, { store, dataDir: dir, caller: async () => ({ tenantId: 'bench', admin: true, scope: ALL_TENANTS }), log });
  const agents = new AgentRegistry();
  const operations = new OperationService(
    store,
    agents,
    await DatastoreCatalog.load(),
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
        replica_set_id: null,
        replica_of: null,
      })
      .execute();
    agents.attach(id, {
      send: (msg) => {
        if (msg.body?.$case !== 'command') return;
        const { operationId } = msg.body.value;
        setImmediate(() => void operations.applyUpdate(id, updates.succeeded(operationId, DONE)));
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

async function workload(s: Setup): Promise<void> {
  let next = 0;
  await Promise.all(
    s.instanceIds.map(async (id) => {
      while (next < OPS) {
        const n = next++;
        const op = await s.operations.start(
          id,
          payload('createDatabases', { databases: [{ name: `db${n}`, characterSet: '', collation: '', ctype: '', replication: {} }] }),
        );
        await s.operations.wait(op.id, 120_000);
      }
    }),
  );
}

async function until(fn: () => boolean, what: string, timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const uniqueAt = (l: OsloListener) => new Set(l.received.map((r) => r.metadata.message_id)).size;
const perSecond = (n: number, ms: number) => (n / ms) * 1000;

/** The load, delivered to a fresh oslo.messaging listener on a fresh exchange; events/s until the listener has them all. */
async function osloRun(rabbit: RabbitMq): Promise<number> {
  const exchange = `trove-${randomUUID().slice(0, 8)}`;
  const listener = await startOsloListener(rabbit.url, exchange);
  const s = await setUp({ url: rabbit.url, exchange });
  const t0 = performance.now();
  await workload(s);
  await until(() => uniqueAt(listener) >= EVENTS, 'the oslo.messaging listener');
  const rate = perSecond(EVENTS, performance.now() - t0);
  await tearDown(s);
  await listener.close();
  return rate;
}

/** The same load to an amqplib consumer in its own process. */
async function amqplibRun(rabbit: RabbitMq): Promise<number> {
  const exchange = `bench-${randomUUID().slice(0, 8)}`;
  const child = spawn(process.execPath, ['--import', TSX, CONSUMER, rabbit.url, exchange], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seen = new Set<string>();
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((r) => (ready = r));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') ready();
    else seen.add(line.split(' ')[0]);
  });
  await isReady;
  // The consumer declares a durable exchange; the sink's declaration must agree.
  const s = await setUp({ url: rabbit.url, exchange, durable: true, declareQueues: false });
  const t0 = performance.now();
  await workload(s);
  await until(() => seen.size >= EVENTS, 'the amqplib consumer');
  const rate = perSecond(EVENTS, performance.now() - t0);
  await tearDown(s);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return rate;
}

/** The listener's own ceiling: the events already queued (controller first), then the listener starts and drains them. */
async function drainRun(rabbit: RabbitMq): Promise<number> {
  const exchange = `drain-${randomUUID().slice(0, 8)}`;
  // Each drain run has its own queues: the default ones are named by topic, shared across exchanges.
  await rabbit.stop();
  await rabbit.start();
  const s = await setUp({ url: rabbit.url, exchange });
  await workload(s);
  for (;;) {
    if ((await s.notifications.dispatcher!.backlog('amqp')) === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await tearDown(s);
  const t0 = performance.now();
  const listener = await startOsloListener(rabbit.url, exchange);
  await until(() => uniqueAt(listener) >= EVENTS, 'the draining listener');
  const rate = perSecond(EVENTS, performance.now() - t0);
  await listener.close();
  return rate;
}

async function main(): Promise<void> {
  console.log(`oslo.messaging listener: ${OPS} operations (${EVENTS} events), ${CONCURRENCY} in flight; median of ${RUNS} runs`);
  console.log(
    `machine: ${cpus().length} CPUs, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the start\n`,
  );
  const rabbit = await startRabbitMq();
  try {
    await osloRun(rabbit); // warm-up
    const oslo: number[] = [];
    const node: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      oslo.push(await osloRun(rabbit));
      node.push(await amqplibRun(rabbit));
    }
    const drain: number[] = [];
    for (let i = 0; i < RUNS; i++) drain.push(await drainRun(rabbit));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const [o, n, d] = [median(oslo), median(node), median(drain)];
    console.log(
      `events/s delivered to the oslo.messaging listener (controller -> RabbitMQ -> listener): ${o.toFixed(0)}   runs: ${oslo.map((x) => x.toFixed(0)).join(', ')}`,
    );
    console.log(
      `baseline, the same load to an amqplib consumer:                                  ${n.toFixed(0)}   runs: ${node.map((x) => x.toFixed(0)).join(', ')}`,
    );
    console.log(
      `baseline, the listener draining ${EVENTS} queued events (its own ceiling):          ${d.toFixed(0)}   runs: ${drain.map((x) => x.toFixed(0)).join(', ')}`,
    );
    console.log(`ratio oslo listener / amqplib consumer: ${(o / n).toFixed(2)}; oslo listener under load / its ceiling: ${(o / d).toFixed(2)}`);
  } finally {
    await rabbit.close();
  }
}

await main();
