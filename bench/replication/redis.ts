// Redis in the replication benchmarks: Steward's replica set against three
// redis-server processes replicating by hand (`REPLICAOF`, `FAILOVER TO`), the
// application's ACL user on both, its writes an RPUSH of a number to one list.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestController } from '../../test/fixtures/controller.js';
import { waitFor } from '../../test/fixtures/controller.js';
import { freePort } from '../../test/fixtures/manager-instance.js';
import { redisAppClient } from '../../test/fixtures/redis-instance.js';
import type { ByHand, DatastoreBench } from './common.js';

const PASSWORD = 'Bench-Pw-1234567';

const app = (host: string, port: number) => redisAppClient(host, port, PASSWORD);

/** One command as the application user; the connection is closed after it. */
async function command(port: number, ...args: string[]): Promise<string> {
  const c = await app('127.0.0.1', port);
  try {
    return String(await c.sendCommand(args));
  } finally {
    c.destroy();
  }
}

const info = (port: number) => command(port, 'INFO', 'replication');

async function byHand(): Promise<ByHand> {
  const root = mkdtempSync(join(tmpdir(), 'steward-benchredis-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const procs: Array<ChildProcess | undefined> = [];
  const start = (i: number, replicaOf?: number) => {
    const args = ['--port', String(ports[i]), '--bind', '127.0.0.1', '--dir', root, '--dbfilename', `dump-${i}.rdb`, '--save', '', '--appendonly', 'no'];
    args.push('--user', 'default', 'off', '--user', 'app', 'on', `>${PASSWORD}`, '~*', '&*', '+@all', '--masteruser', 'app', '--masterauth', PASSWORD);
    if (replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(ports[replicaOf]));
    procs[i] = spawn('redis-server', args, { stdio: 'ignore' });
  };
  const following = (i: number) => waitFor(`redis ${i} following`, async () => /master_link_status:up/.test(await info(ports[i]).catch(() => '')), 30_000, 20);
  start(0);
  await waitFor('redis 0 up', async () => (await command(ports[0], 'PING').catch(() => '')) === 'PONG', 30_000, 20);
  start(1, 0);
  start(2, 0);
  await following(1);
  await following(2);
  let dead: number | undefined;

  const h: ByHand = {
    members: ports.map((port) => ({ host: '127.0.0.1', port })),
    primary: 0,
    async switchover(to) {
      // Redis's own coordinated switchover: writes paused, the target caught up, roles swapped.
      await command(ports[h.primary], 'FAILOVER', 'TO', '127.0.0.1', String(ports[to]), 'TIMEOUT', '5000');
      await waitFor('the target promoted', async () => /role:master/.test(await info(ports[to])), 10_000, 5);
      const other = [0, 1, 2].find((i) => i !== to && i !== h.primary)!;
      await command(ports[other], 'REPLICAOF', '127.0.0.1', String(ports[to]));
      h.primary = to;
    },
    async failover(to) {
      procs[h.primary]!.kill('SIGKILL');
      dead = h.primary;
      await command(ports[to], 'REPLICAOF', 'NO', 'ONE');
      h.primary = to;
      for (const i of [0, 1, 2]) if (i !== to && i !== dead) await command(ports[i], 'REPLICAOF', '127.0.0.1', String(ports[to]));
    },
    async heal() {
      if (dead === undefined) return;
      start(dead, h.primary);
      await following(dead);
      dead = undefined;
    },
    async close() {
      for (const p of procs) p?.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    },
  };
  return h;
}

export const redisBench: DatastoreBench = {
  name: 'Redis',
  primaryRequest: { datastore: 'redis', users: [{ name: 'app', password: PASSWORD, host: '', access: [], permissions: 'read-write' }] },
  async setUp() {},
  async writer(host, port) {
    const c = await app(host, port);
    return { insert: async (n) => void (await c.rPush('w', String(n))), close: async () => c.destroy() };
  },
  async rows(host, port) {
    const c = await app(host, port);
    try {
      return (await c.lRange('w', 0, -1)).map(Number);
    } finally {
      c.destroy();
    }
  },
  async load(host, port, mb) {
    const c = await app(host, port);
    try {
      const value = randomBytes(64 * 1024).toString('base64');
      for (let i = 0; i < mb * 12; i++) await c.set(`bulk:${i}`, value);
    } finally {
      c.destroy();
    }
  },
  serverPid: (t: TestController, id: string) =>
    Number(readFileSync(join(t.controller.provisioner.stateDirOf(id), 'run', 'redis-server.service.pid'), 'utf8').trim()),
  byHand,
};
