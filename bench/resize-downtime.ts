// Write unavailability during a memory resize of MariaDB through Steward (the
// settings rendered for the new size, one restart), against a bare restart of
// a server with the same data size and settings done by hand with mariadbd, in
// the same run. A client writes every 10 ms (reconnecting when its connection
// breaks); the downtime is the longest gap between two acknowledged writes.
//   npx tsx bench/resize-downtime.ts [rounds]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../proto/gen/steward/v1/api.js';
import { DatastoreStatus, type Operation, type RootResult } from '../proto/gen/steward/v1/common.js';
import { freeLoopbackPort } from '../controller/provisioner/processes.js';
import { call, startTestController, tempDir, waitFor } from '../test/fixtures/controller.js';
import { ms, ratio, summarize } from './stats.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const SIZES = [256, 384];

interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** Writes every 10 ms until stopped; returns the longest gap between acknowledged writes. */
function writer(t: Target) {
  let stop = false;
  let last = performance.now();
  let longest = 0;
  let writes = 0;
  const done = (async () => {
    let c: mysql.Connection | undefined;
    while (!stop) {
      try {
        c ??= await mysql.createConnection({ ...t, database: 'bench', connectTimeout: 2000 });
        await c.query('INSERT INTO ticks (at) VALUES (NOW(6))');
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        writes++;
      } catch {
        await c?.destroy();
        c = undefined;
      }
      await sleep(10);
    }
    await c?.end().catch(() => undefined);
  })();
  return {
    async finish(): Promise<{ longest: number; writes: number }> {
      stop = true;
      await done;
      return { longest, writes };
    },
  };
}

async function prepareTable(t: Target): Promise<void> {
  const c = await mysql.createConnection(t);
  await c.query('CREATE DATABASE IF NOT EXISTS bench');
  await c.query('CREATE TABLE IF NOT EXISTS bench.ticks (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) ENGINE=InnoDB');
  await c.end();
}

/** A bare mariadbd restarted by hand with a new buffer pool size: the baseline. */
async function bareRestarts(): Promise<number[]> {
  const dir = tempDir('bench-bare-resize-');
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const uid = Number(execFileSync('id', ['-u', 'mysql']).toString());
  const gid = Number(execFileSync('id', ['-g', 'mysql']).toString());
  chownSync(data, uid, gid);
  chownSync(dir, uid, gid);
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=mysql', '--skip-test-db', '--auth-root-authentication-method=socket'], {
    stdio: 'ignore',
  });
  const port = await freeLoopbackPort();
  const socket = join(dir, 'mysqld.sock');
  const start = (poolMb: number): ChildProcess =>
    spawn(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${data}`,
        '--user=mysql',
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${socket}`,
        `--innodb-buffer-pool-size=${poolMb}M`,
        '--skip-name-resolve',
      ],
      { stdio: 'ignore' },
    );
  let server = start(SIZES[0]! / 2);
  await waitFor('bare mariadbd', async () => (await (await mysql.createConnection({ socketPath: socket, user: 'root' })).end(), true), 60_000, 20);
  const admin = await mysql.createConnection({ socketPath: socket, user: 'root' });
  await admin.query("CREATE USER 'bench'@'%' IDENTIFIED BY 'Bench-Bare-Pw-1'");
  await admin.query("GRANT ALL ON *.* TO 'bench'@'%'");
  await admin.end();
  const target = { host: '127.0.0.1', port, user: 'bench', password: 'Bench-Bare-Pw-1' };
  await prepareTable(target);
  const gaps: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const w = writer(target);
    await sleep(300);
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    server = start(SIZES[(i + 1) % 2]! / 2);
    await waitFor('bare mariadbd back', async () => (await (await mysql.createConnection(target)).end(), true), 60_000, 10);
    await sleep(300);
    gaps.push((await w.finish()).longest);
  }
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  return gaps;
}

const bare = await bareRestarts();
const t = await startTestController({ provisioner: { heartbeatIntervalMs: 500 } });
try {
  const res = await call<object, CreateInstanceResponse>(
    t.clients.instances,
    'create',
    CreateInstanceRequest.fromPartial({ name: 'bench-resize', datastore: 'mysql', memoryMb: SIZES[0] }),
  );
  const id = res.instance!.id;
  const ready = () =>
    waitFor(
      'HEALTHY and idle',
      async () => {
        const i = await call<object, Instance>(t.clients.instances, 'get', { id });
        return i.status === DatastoreStatus.HEALTHY && i.task === 1 && i;
      },
      180_000,
      50,
    );
  const inst = await ready();
  const root = await call<object, RootResult>(t.clients.root, 'enable', { id });
  const target = { host: inst.host, port: inst.port, user: root.user, password: root.password };
  await prepareTable(target);
  const steward: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const w = writer(target);
    await sleep(300);
    const op = await call<object, Operation>(t.clients.instances, 'resize', { id, memoryMb: SIZES[(i + 1) % 2] });
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 300_000 });
    if (done.error) throw new Error(done.error.message);
    await sleep(300);
    steward.push((await w.finish()).longest);
    await ready();
  }
  const s = summarize(steward);
  const b = summarize(bare);
  console.log(`write unavailability, MariaDB, ${ROUNDS} rounds, ${SIZES.join(' <-> ')} MB (client writing every 10 ms):`);
  console.log(`  bare restart of mariadbd with a new buffer pool: p50 ${ms(b.p50)}  max ${ms(Math.max(...bare))}`);
  console.log(`  Steward resize (render + one restart):           p50 ${ms(s.p50)}  max ${ms(Math.max(...steward))}`);
  console.log(`  ratio (p50): ${ratio(s.p50, b.p50)}`);
} finally {
  await t.close();
}
