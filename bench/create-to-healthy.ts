// Time from "create instance" to HEALTHY through Steward (controller, local
// provisioner, agent start, enrollment, prepare, first healthy heartbeat)
// against the bare tools doing the same server work by hand in the same run:
//   mysql       mariadb-install-db, then mariadbd until it accepts a connection
//   postgresql  initdb, then postgres until it accepts a connection
//   redis       redis-server until it answers PING
//   npx tsx bench/create-to-healthy.ts [mysql|postgresql|redis] [rounds]
import { spawn, execFileSync } from 'node:child_process';
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

async function barePostgres(): Promise<number> {
  const dir = tempDir('bench-bare-pg-');
  const data = join(dir, 'data');
  const { uid, gid } = uidOf('postgres');
  mkdirSync(data, { mode: 0o700 });
  chownSync(data, uid, gid);
  chownSync(dir, uid, gid);
  const port = await freeLoopbackPort();
  const bin = '/usr/lib/postgresql/15/bin';
  const t0 = performance.now();
  execFileSync(`${bin}/initdb`, ['-D', data, '-U', 'postgres', '--auth=trust'], { stdio: 'ignore', uid, gid });
  const server = spawn(`${bin}/postgres`, ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'], { stdio: 'ignore', uid, gid });
  await waitFor('bare postgres', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await c.connect();
    await c.end();
    return true;
  }, 60_000, 20);
  const elapsed = performance.now() - t0;
  server.kill('SIGINT');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}

async function bareRedis(): Promise<number> {
  const dir = tempDir('bench-bare-redis-');
  const port = await freeLoopbackPort();
  const t0 = performance.now();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' });
  await waitFor('bare redis', async () => {
    const c = createClient({ socket: { host: '127.0.0.1', port } });
    await c.connect();
    await c.ping();
    await c.quit();
    return true;
  }, 60_000, 20);
  const elapsed = performance.now() - t0;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}

async function bareMariadb(): Promise<number> {
  const dir = tempDir('bench-bare-');
  const data = join(dir, 'data');
  mkdirSync(data);
  const uid = Number(execFileSync('id', ['-u', 'mysql']).toString());
  const gid = Number(execFileSync('id', ['-g', 'mysql']).toString());
  chownSync(data, uid, gid);
  chownSync(dir, uid, gid);
  const port = await freeLoopbackPort();
  const sock = join(dir, 'mysqld.sock');
  const t0 = performance.now();
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=mysql', '--skip-test-db', '--auth-root-authentication-method=socket'], { stdio: 'ignore' });
  const server = spawn('mariadbd', ['--no-defaults', `--datadir=${data}`, '--user=mysql', `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${sock}`, '--innodb-buffer-pool-size=128M', '--skip-name-resolve'], { stdio: 'ignore' });
  await waitFor('bare mariadbd', async () => {
    const c = await mysql.createConnection({ socketPath: sock, user: 'root' });
    await c.end();
    return true;
  }, 60_000, 20);
  const elapsed = performance.now() - t0;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return elapsed;
}

const BARE: Record<string, () => Promise<number>> = { mysql: bareMariadb, postgresql: barePostgres, redis: bareRedis };
const BARE_WHAT: Record<string, string> = {
  mysql: 'mariadb-install-db + mariadbd start',
  postgresql: 'initdb + postgres start',
  redis: 'redis-server start',
};
if (!BARE[DATASTORE]) throw new Error(`no baseline for ${DATASTORE}; use mysql, postgresql or redis`);

const t = await startTestController({ provisioner: { heartbeatIntervalMs: 200 } });
try {
  const steward: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    bare.push(await BARE[DATASTORE]());
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
