// Fan-in: one controller (the build in dist/, its own process, external
// provisioner) with N simulated agents in separate processes that speak the
// real protocol (test/fixtures/sim-agents.ts: enrollment, mutual TLS, Hello,
// heartbeats at the production interval, answers to commands). For each N it
// reports, over a steady window: the controller's CPU share of one core, its
// RSS, heartbeat handling (from its 'gateway statistics' lines), event-loop
// delay, and no-op operations to random agents (sequential p50/p99 against a
// raw grpc-js unary call in the same run, then throughput at concurrency 32).
// Then a reconnect storm: the controller is killed (SIGKILL) and started again
// on the same ports and store; time until every agent is connected again.
//   npx tsx bench/fan-in.ts [N ...]        (default 1000 2000 5000)
// FAN_IN_HEARTBEAT_MS (default 10000), FAN_IN_WINDOW_S (default 30).
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { call, clientsFor, tempDir, waitFor, type Clients } from '../test/fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse } from '../proto/gen/steward/v1/api.js';
import { tlsEcho } from './raw-grpc.js';
import { CertificateAuthority } from '../controller/pki/ca.js';
import { ms, summarize, timeEach } from './stats.js';
import type { SimJob } from '../test/fixtures/sim-agents.js';

const SIZES = process.argv.slice(2).map(Number).filter(Boolean);
const HEARTBEAT_MS = Number(process.env.FAN_IN_HEARTBEAT_MS ?? 10_000);
const WINDOW_S = Number(process.env.FAN_IN_WINDOW_S ?? 30);
const PER_PROCESS = 500;
const ROOT = join(import.meta.dirname, '..');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

interface GatewayStats {
  connected: number;
  heartbeats: number;
  heartbeatWrites: number;
  handlingP50Ms: number;
  handlingP99Ms: number;
  eventLoopDelayP99Ms: number;
}

class ControllerProcess {
  readonly stats: (GatewayStats & { at: number })[] = [];
  private child?: ChildProcess;
  private ready?: Promise<void>;

  constructor(private readonly config: string) {}

  start(): Promise<void> {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'steward-controller.mjs'), '--config', this.config], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.ready = new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`controller exited ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('steward-controller: API')) resolve();
        if (!line.includes('gateway statistics')) return;
        try {
          this.stats.push({ ...(JSON.parse(line) as GatewayStats), at: Date.now() });
        } catch {}
      });
    });
    return this.ready;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  /** utime + stime in seconds (/proc/<pid>/stat, clock ticks of 100 Hz). */
  cpuSeconds(): number {
    const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  rssMiB(): number {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1]) / 1024;
  }

  async kill(): Promise<void> {
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child!.kill('SIGKILL');
    await exited;
  }
}

async function run(n: number, raw: { p50: number }): Promise<void> {
  const dir = tempDir('fan-in-');
  const [api, gateway] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const config = join(dir, 'controller.yaml');
  writeFileSync(
    config,
    `listen: ${api}\nagentListen: ${gateway}\ndataDir: ${dir}\nlogLevel: info\nstatsIntervalMs: 5000\nenrollmentTokenTtlMs: 3600000\n` +
      `missedHeartbeats: 3\nprovisioner:\n  kind: external\n  heartbeatIntervalMs: ${HEARTBEAT_MS}\n`,
  );
  const controller = new ControllerProcess(config);
  await controller.start();
  const clients: Clients = clientsFor(api, join(dir, 'pki', 'ca.pem'), readFileSync(join(dir, 'admin.token'), 'utf8').trim());

  let t0 = performance.now();
  const agents: { id: string; token: string }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < n) {
        const i = next++;
        const res = await call<object, CreateInstanceResponse>(
          clients.instances,
          'create',
          CreateInstanceRequest.fromPartial({ name: `sim-${i}`, datastore: 'redis', memoryMb: 256 }),
        );
        agents.push({ id: res.instance!.id, token: res.enrollmentToken });
      }
    }),
  );
  const createS = (performance.now() - t0) / 1000;

  t0 = performance.now();
  const sims: ChildProcess[] = [];
  const counts = new Map<ChildProcess, { enrolled: number; connected: number; heartbeats: number }>();
  for (let i = 0; i < agents.length; i += PER_PROCESS) {
    const job: SimJob = {
      gateway,
      enroll: api,
      caFile: join(dir, 'pki', 'ca.pem'),
      heartbeatMs: HEARTBEAT_MS,
      datastore: 'redis',
      agents: agents.slice(i, i + PER_PROCESS),
    };
    const file = join(dir, `sim-${i}.json`);
    writeFileSync(file, JSON.stringify(job));
    const sim = fork(join(ROOT, 'test', 'fixtures', 'sim-agents.ts'), [file], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    sim.on('message', (m: { type: string; counts: { enrolled: number; connected: number; heartbeats: number } }) => counts.set(sim, m.counts));
    sims.push(sim);
  }
  const total = (k: 'enrolled' | 'connected' | 'heartbeats') => [...counts.values()].reduce((s, c) => s + c[k], 0);
  await waitFor(`${n} agents connected`, async () => total('connected') >= n, 30 * 60_000, 500);
  const connectS = (performance.now() - t0) / 1000;

  // Steady state: every agent has beaten at least once more, then the window.
  await new Promise((r) => setTimeout(r, HEARTBEAT_MS + 2_000));
  const cpu0 = controller.cpuSeconds();
  const w0 = performance.now();
  const statsFrom = Date.now();
  const ids = agents.map((a) => a.id);
  const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
  const ping = () => call(clients.instances, 'ping', { instanceId: pick(), echo: 'x' });
  const sequential = summarize(await timeEach(200, ping));
  let done = 0;
  const until = performance.now() + 5_000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < until) {
        await ping();
        done++;
      }
    }),
  );
  const throughput = done / 5;
  const rest = WINDOW_S * 1000 - (performance.now() - w0);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  const cpuShare = (controller.cpuSeconds() - cpu0) / ((performance.now() - w0) / 1000);
  const rss = controller.rssMiB();
  await new Promise((r) => setTimeout(r, 5_500)); // the statistics line covering the window's end
  const window = controller.stats.filter((s) => s.at > statsFrom);
  const hb = window.reduce((s, l) => s + l.heartbeats, 0);
  const writes = window.reduce((s, l) => s + l.heartbeatWrites, 0);
  const worst = (k: 'handlingP99Ms' | 'eventLoopDelayP99Ms' | 'handlingP50Ms') => Math.max(0, ...window.map((l) => l[k]));

  console.log(`\nN = ${n} agents, heartbeat every ${HEARTBEAT_MS / 1000} s, ${Math.ceil(n / PER_PROCESS)} simulator processes`);
  console.log(`  set-up: ${n} instances created in ${createS.toFixed(1)} s; enrolled and connected in ${connectS.toFixed(1)} s`);
  console.log(`  controller over ${WINDOW_S} s: CPU ${(cpuShare * 100).toFixed(1)}% of one core (incl. the operations below), RSS ${rss.toFixed(0)} MiB`);
  console.log(
    `  heartbeats: ${hb} handled (${(hb / ((Date.now() - statsFrom) / 1000)).toFixed(0)}/s), ${writes} store writes; handling p50 ${worst('handlingP50Ms')} ms, p99 ${worst('handlingP99Ms')} ms (worst 5 s window); event-loop delay p99 ${worst('eventLoopDelayP99Ms')} ms`,
  );
  console.log(
    `  no-op to a random agent, sequential: p50 ${ms(sequential.p50)} p99 ${ms(sequential.p99)} (raw grpc-js p50 ${ms(raw.p50)}: ${(sequential.p50 / raw.p50).toFixed(1)}x); at concurrency 32: ${throughput.toFixed(0)} ops/s`,
  );

  // Reconnect storm: every agent loses the controller at once and comes back with its own jittered backoff.
  await controller.kill();
  await waitFor('the simulators to notice', async () => total('connected') === 0, 120_000, 100);
  const s0 = performance.now();
  await controller.start();
  await waitFor(`${n} agents reconnected`, async () => total('connected') >= n, 10 * 60_000, 100);
  const stormS = (performance.now() - s0) / 1000;
  console.log(`  reconnect storm: controller killed and restarted; all ${n} agents connected again ${stormS.toFixed(1)} s after its restart`);

  for (const s of sims) s.kill('SIGKILL');
  clients.close();
  await controller.kill();
}

const sizes = SIZES.length ? SIZES : [1000, 2000, 5000];
// The raw baseline, in this run, over TLS with a certificate from a CA of its own.
const ca = await CertificateAuthority.loadOrCreate(join(tempDir('fan-in-ca-'), 'pki'));
const rawClient = await tlsEcho(ca);
await timeEach(50, () => rawClient.echo(Buffer.from('ping')));
const raw = summarize(await timeEach(300, () => rawClient.echo(Buffer.from('ping'))));
rawClient.close();
for (const n of sizes) await run(n, raw);
process.exit(0);
