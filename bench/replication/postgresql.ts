// PostgreSQL in the replication benchmarks: Steward's replica set against three
// servers replicating by hand with the manager's own operations and no
// controller (fence, wait for the LSN, pg_promote, re-point, pg_rewind), the
// application's role on both, its writes an INSERT of a number.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { BackupType } from '../../proto/gen/steward/v1/backups.js';
import { createPostgresqlInstance, testOp, type PostgresqlInstance } from '../../test/fixtures/postgresql-instance.js';
import { tempStore, testGrant } from '../../test/fixtures/backup-storage.js';
import { prepareRequest } from '../../test/fixtures/datastore-suite.js';
import type { TestController } from '../../test/fixtures/controller.js';
import { waitFor } from '../../test/fixtures/controller.js';
import type { ByHand, DatastoreBench } from './common.js';

const PASSWORD = 'Bench-Pw-1234567';
const CREDS = { user: 'steward_repl', password: 'bench-repl-secret-123456' };
const NAMES = ['m0', 'm1', 'm2'];

async function app(host: string, port: number): Promise<pg.Client> {
  const c = new pg.Client({ host, port, user: 'app', password: PASSWORD, database: 'shop', connectionTimeoutMillis: 2_000 });
  c.on('error', () => undefined); // failures surface through the rejected queries
  await c.connect();
  return c;
}

async function byHand(): Promise<ByHand> {
  const { root, storage } = tempStore('steward-benchpg-');
  const grant = testGrant();
  const servers: PostgresqlInstance[] = await Promise.all([createPostgresqlInstance(), createPostgresqlInstance(), createPostgresqlInstance()]);
  const ops = (i: number) => servers[i].manager.replication;
  let term = 1;
  // failoverGuard: a killed primary is not restarted behind the benchmark's back (it was failed over).
  const sourceRequest = (primary: number) => ({
    term,
    credentials: CREDS,
    synchronous: false,
    replicas: NAMES.filter((_, i) => i !== primary).map((name) => ({ name, host: '127.0.0.1' })),
    failoverGuard: true,
  });
  const attachTo = (primary: number, i: number) => ({
    term,
    sourceHost: '127.0.0.1',
    sourcePort: servers[primary].port,
    credentials: CREDS,
    name: NAMES[i],
    synchronous: false,
  });
  const streaming = (i: number) => waitFor(`server ${i} streaming`, async () => (await ops(i).status(testOp())).connected, 60_000, 50);

  const appUser = { name: 'app', host: '', password: PASSWORD, access: [{ database: 'shop' }], permissions: '' };
  await servers[0].manager.prepare(
    prepareRequest({ databases: [{ name: 'shop', characterSet: '', collation: '', ctype: '', replication: {} }], users: [appUser] }),
    testOp(),
  );
  await postgresqlBench.setUp('127.0.0.1', servers[0].port);
  await ops(0).configureSource(sourceRequest(0), testOp());
  const full = await servers[0].manager.backup.create(
    { backupId: 'seed', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' },
    testOp(),
  );
  const restore = { storage, chain: [{ artifact: full, key: grant }] };
  await Promise.all([1, 2].map((i) => servers[i].manager.prepare(prepareRequest({ restore, replicaOf: attachTo(0, i) }), testOp())));
  await streaming(1);
  await streaming(2);
  let dead: number | undefined;
  let promotedAt = '';

  const h: ByHand = {
    members: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    primary: 0,
    async switchover(to) {
      const from = h.primary;
      await ops(from).fence(testOp());
      await ops(to).waitFor((await ops(from).status(testOp())).position, 30_000, testOp());
      term++;
      const promoted = await ops(to).promote({ term, source: sourceRequest(to) }, testOp());
      h.primary = to;
      for (const i of [0, 1, 2]) if (i !== to && i !== from) await ops(i).attach(attachTo(to, i), testOp());
      await ops(from).rejoin({ attach: attachTo(to, from), promotedAt: promoted.position }, testOp());
    },
    async failover(to) {
      const from = h.primary;
      process.kill((await servers[from].ctx.service.pid(await servers[from].manager.serviceSpec()))!, 'SIGKILL');
      dead = from;
      term++;
      promotedAt = (await ops(to).promote({ term, source: sourceRequest(to) }, testOp())).position;
      h.primary = to;
      for (const i of [0, 1, 2]) if (i !== to && i !== dead) await ops(i).attach(attachTo(to, i), testOp());
    },
    async heal() {
      if (dead === undefined) return;
      await ops(dead).rejoin({ attach: attachTo(h.primary, dead), promotedAt }, testOp());
      await streaming(dead);
      dead = undefined;
    },
    async close() {
      await Promise.all(servers.map((s) => s.teardown()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  return h;
}

export const postgresqlBench: DatastoreBench = {
  name: 'PostgreSQL',
  primaryRequest: {
    datastore: 'postgresql',
    databases: [{ name: 'shop' }],
    users: [{ name: 'app', password: PASSWORD, host: '', access: [{ database: 'shop' }] }],
  },
  async setUp(host, port) {
    const c = await app(host, port);
    await c.query('CREATE TABLE IF NOT EXISTS w (n int PRIMARY KEY)');
    await c.end();
  },
  async writer(host, port) {
    const c = await app(host, port);
    return { insert: async (n) => void (await c.query('INSERT INTO w (n) VALUES ($1)', [n])), close: () => c.end() };
  },
  async rows(host, port) {
    const c = await app(host, port);
    try {
      return (await c.query('SELECT n FROM w')).rows.map((r) => Number(r.n));
    } finally {
      await c.end();
    }
  },
  async load(host, port, mb) {
    const c = await app(host, port);
    try {
      await c.query('CREATE TABLE IF NOT EXISTS bulk (id serial PRIMARY KEY, body bytea)');
      const row = randomBytes(64 * 1024);
      for (let done = 0; done < mb * 16; done++) await c.query('INSERT INTO bulk (body) VALUES ($1)', [row]);
    } finally {
      await c.end();
    }
  },
  serverPid: (t: TestController, id: string) =>
    Number(readFileSync(join(t.controller.provisioner.stateDirOf(id), 'run', 'postgresql.service.pid'), 'utf8').trim()),
  byHand,
};
