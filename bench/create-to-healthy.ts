// Time from "create instance" to HEALTHY through Steward (controller, local
// provisioner, agent start, enrollment, prepare, first healthy heartbeat)
// against the bare tools doing the same server work by hand in the same run:
//   mysql       mariadb-install-db, then mariadbd until it accepts a connection
//   postgresql  initdb, then postgres until it accepts a connection
//   redis       redis-server until it answers PING
//   npx tsx bench/create-to-healthy.ts [mysql|postgresql|redis] [rounds]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { call, startTestController, tempDir, waitFor } from '../test/fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../proto/gen/steward/v1/api.js';
import { DatastoreStatus } from '../proto/gen/steward/v1/common.js';
import { freeLoopbackPort } from '../controller/provisioner/processes.js';
import { summarize, ms, ratio } from './stats.js';

const DATASTORE = process.argv[2] ?? 'mysql';
const ROUNDS = Number(process.argv[3] ?? 3);

const uidOf = (user: string) => ({
  uid: Number(execFileSync('id', ['-u', user]).toString()),
  gid: Number(execFileSync('id', ['-g', user]).toString()),
});

interface BareRun {
  /** Initialise (timed) and start the server; `port` is free on 127.0.0.1. */
  start(dir: string, port: number): ChildProcess;
  /** Resolves once a client is served. */
  ready(dir: string, port: number): Promise<void>;
  stopSignal: NodeJS.Signals;
  /** The OS user that owns the directory, if the server drops to one. */
  owner?: string;
}

/** Time from nothing to a served client with the bare tools, then clean up. */
async function timeBare(name: string, run: BareRun): Promise<number> {
  const dir = tempDir(`bench-bare-${name}-`);
  if (run.owner) {
    const { uid, gid } = uidOf(run.owner);
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    chownSync(join(dir, 'data'), uid, gid);
    chownSync(dir, uid, gid);
  }
  const port = await freeLoopbackPort();
  const t0 = performance.now();
  const server = run.start(dir, port);
  await waitFor(`bare ${name}`, async () => (await run.ready(dir, port), true), 60_000, 20);
  const elapsed = performance.now() - t0;
  server.kill(run.stopSignal);
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';
const BARE_RUNS: Record<string, BareRun> = {
  mysql: {
    owner: 'mysql',
    stopSignal: 'SIGTERM',
    start(dir, port) {
      const data = join(dir, 'data');
      execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=mysql', '--skip-test-db', '--auth-root-authentication-method=socket'], {
        stdio: 'ignore',
      });
      return spawn(
        'mariadbd',
        [
          '--no-defaults',
          `--datadir=${data}`,
          '--user=mysql',
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--socket=${join(dir, 'mysqld.sock')}`,
          '--innodb-buffer-pool-size=128M',
          '--skip-name-resolve',
        ],
        { stdio: 'ignore' },
      );
    },
    async ready(dir) {
      await (await mysql.createConnection({ socketPath: join(dir, 'mysqld.sock'), user: 'root' })).end();
    },
  },
  postgresql: {
    owner: 'postgres',
    stopSignal: 'SIGINT',
    start(dir, port) {
      const ids = uidOf('postgres');
      execFileSync(`${PG_BIN}/initdb`, ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust'], { stdio: 'ignore', ...ids });
      return spawn(`${PG_BIN}/postgres`, ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'], {
        stdio: 'ignore',
        ...ids,
      });
    },
    async ready(_dir, port) {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
      await c.connect();
      await c.end();
    },
  },
  redis: {
    stopSignal: 'SIGTERM',
    start: (dir, port) => spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' }),
    async ready(_dir, port) {
      const c = createClient({ socket: { host: '127.0.0.1', port } });
      await c.connect();
      await c.ping();
      await c.quit();
    },
  },
};

const BARE_WHAT: Record<string, string> = {
  mysql: 'mariadb-install-db + mariadbd start',
  postgresql: 'initdb + postgres start',
  redis: 'redis-server start',
};
if (!BARE_RUNS[DATASTORE]) throw new Error(`no baseline for ${DATASTORE}; use mysql, postgresql or redis`);

const t = await startTestController({ provisioner: { heartbeatIntervalMs: 200 } });
try {
  const steward: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    bare.push(await timeBare(DATASTORE, BARE_RUNS[DATASTORE]));
    const t0 = performance.now();
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: `bench-${i}`, datastore: DATASTORE, memoryMb: 256 }),
    );
    const id = res.instance!.id;
    await waitFor('HEALTHY', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).status === DatastoreStatus.HEALTHY, 180_000, 20);
    steward.push(performance.now() - t0);
    await t.controller.provisioner.destroy(id);
  }
  const s = summarize(steward);
  const b = summarize(bare);
  console.log(`create -> HEALTHY, ${DATASTORE}, ${ROUNDS} rounds (heartbeat interval 200 ms):`);
  console.log(`  bare tools (${BARE_WHAT[DATASTORE]}): p50 ${ms(b.p50)}  min ${ms(b.min)}`);
  console.log(`  Steward create instance -> HEALTHY:      p50 ${ms(s.p50)}  min ${ms(s.min)}`);
  console.log(`  ratio (p50): ${ratio(s.p50, b.p50)}  agent overhead (p50): ${ms(s.p50 - b.p50)}`);
} finally {
  await t.close();
}
