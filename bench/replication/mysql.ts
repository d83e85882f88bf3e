// MariaDB for the replication benchmarks. By hand means what an operator's
// script does with MariaDB's own statements and nothing else: read_only and
// KILL on the old primary, MASTER_GTID_WAIT on the candidate, STOP SLAVE /
// RESET SLAVE ALL / read_only=OFF to promote, CHANGE MASTER on the others.
// The three hand-driven servers are set up (untimed) the way Steward builds
// replicas: a backup of the primary restored on each, following by GTID.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { BackupType } from '../../proto/gen/steward/v1/backups.js';
import { ADMIN_SECRET, mysqlPaths } from '../../managers/mysql/paths.js';
import { createMysqlInstance, testOp, type MysqlInstance } from '../../test/fixtures/mysql-instance.js';
import { tempStore, testGrant } from '../../test/fixtures/backup-storage.js';
import { prepareRequest } from '../../test/fixtures/datastore-suite.js';
import type { TestController } from '../../test/fixtures/controller.js';
import { waitFor } from '../../test/fixtures/controller.js';
import type { ByHand, DatastoreBench } from './common.js';
import { errantGtids } from '../../managers/mysql/gtid.js';

const PASSWORD = 'Bench-Pw-1234567';
const CREDS = { user: 'steward_repl', password: 'bench-repl-secret-123456' };

const app = (host: string, port: number) => mysql.createConnection({ host, port, user: 'app', password: PASSWORD, database: 'shop', connectTimeout: 2_000 });

async function admin(inst: MysqlInstance): Promise<Connection> {
  const password = await inst.ctx.secrets.get(ADMIN_SECRET);
  return mysql.createConnection({ socketPath: mysqlPaths(inst.ctx).socket, user: 'steward_admin', password, connectTimeout: 2_000 });
}

async function sql(inst: MysqlInstance, ...statements: Array<[string, unknown[]?]>): Promise<RowDataPacket[]> {
  const c = await admin(inst);
  try {
    let last: RowDataPacket[] = [];
    for (const [s, p] of statements) [last] = (await c.query<RowDataPacket[]>(s, p ?? [])) as [RowDataPacket[], unknown];
    return last;
  } finally {
    await c.end();
  }
}

const follow = (source: MysqlInstance): Array<[string, unknown[]?]> => [
  ['STOP SLAVE'],
  [
    'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1',
    ['127.0.0.1', source.port, CREDS.user, CREDS.password],
  ],
  ['START SLAVE'],
];

async function byHand(): Promise<ByHand> {
  const { root, storage } = tempStore('steward-benchrepl-');
  const grant = testGrant();
  const servers = await Promise.all([createMysqlInstance(), createMysqlInstance(), createMysqlInstance()]);
  const [src] = servers;
  const appUser = { name: 'app', host: '%', password: PASSWORD, access: [{ database: 'shop' }], permissions: '' };
  await src.manager.prepare(
    prepareRequest({ databases: [{ name: 'shop', characterSet: '', collation: '', ctype: '', replication: {} }], users: [appUser] }),
    testOp(),
  );
  await mysqlBench.setUp('127.0.0.1', src.port);
  await src.manager.replication.configureSource({ term: 1, credentials: CREDS, synchronous: false, replicas: [], failoverGuard: false }, testOp());
  const full = await src.manager.backup.create(
    { backupId: 'seed', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' },
    testOp(),
  );
  const restore = { storage, chain: [{ artifact: full, key: grant }] };
  const attach = { term: 1, sourceHost: '127.0.0.1', sourcePort: src.port, credentials: CREDS, name: 'r', synchronous: false };
  await Promise.all(servers.slice(1).map((r) => r.manager.prepare(prepareRequest({ restore, replicaOf: attach }), testOp())));
  let dead: number | undefined;
  let takeover = '';

  const h: ByHand = {
    members: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    primary: 0,
    async switchover(to) {
      const from = servers[h.primary];
      await sql(from, ['SET GLOBAL read_only = ON']);
      for (const row of await sql(from, ["SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'"])) {
        await sql(from, ['KILL CONNECTION ?', [Number(row.ID)]]).catch(() => undefined);
      }
      const [{ pos }] = await sql(from, ['SELECT @@GLOBAL.gtid_binlog_pos AS pos']);
      await sql(servers[to], ['SELECT MASTER_GTID_WAIT(?, 30)', [pos]], ['STOP SLAVE'], ['RESET SLAVE ALL'], ['SET GLOBAL read_only = OFF']);
      const old = h.primary;
      h.primary = to;
      for (const [i, s] of servers.entries()) {
        if (i === to) continue;
        if (i === old) await sql(s, ['SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos'], ...follow(servers[to]));
        else await sql(s, ...follow(servers[to]));
      }
    },
    async failover(to) {
      const from = servers[h.primary];
      process.kill(Number(readFileSync(mysqlPaths(from.ctx).servicePidFile, 'utf8').trim()), 'SIGKILL');
      dead = h.primary;
      const [st] = await sql(servers[to], ['STOP SLAVE IO_THREAD'], ['SHOW SLAVE STATUS']);
      await sql(servers[to], ['SELECT MASTER_GTID_WAIT(?, 30)', [st.Gtid_IO_Pos]], ['STOP SLAVE']);
      // What the new primary took over, before its first own write (the errant-GTID check of the heal).
      [{ takeover }] = await sql(servers[to], ['SELECT @@GLOBAL.gtid_binlog_pos AS takeover']);
      await sql(servers[to], ['RESET SLAVE ALL'], ['SET GLOBAL read_only = OFF']);
      h.primary = to;
      for (const [i, s] of servers.entries()) if (i !== to && i !== dead) await sql(s, ...follow(servers[to]));
    },
    async heal() {
      if (dead === undefined) return;
      const s = servers[dead];
      await s.manager.start(testOp());
      await sql(s, ['SET GLOBAL read_only = ON']);
      const [{ mine }] = await sql(s, ['SELECT @@GLOBAL.gtid_binlog_pos AS mine']);
      // A transaction the killed primary wrote but never sent (never acknowledged
      // to the client either) is errant: by hand, the quick way is to forget it and
      // follow from what the new primary took over (its row stays here, unreplicated).
      if (errantGtids(mine, takeover)) await sql(s, ['RESET MASTER'], ['SET GLOBAL gtid_slave_pos = ?', [takeover]], ...follow(servers[h.primary]));
      else await sql(s, ['SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos'], ...follow(servers[h.primary]));
      await waitFor('the healed server streaming', async () => {
        const [st] = await sql(s, ['SHOW SLAVE STATUS']);
        return st?.Slave_IO_Running === 'Yes' && st?.Slave_SQL_Running === 'Yes';
      });
      dead = undefined;
    },
    async close() {
      await Promise.all(servers.map((s) => s.teardown()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  return h;
}

export const mysqlBench: DatastoreBench = {
  name: 'MariaDB',
  primaryRequest: {
    datastore: 'mysql',
    databases: [{ name: 'shop' }],
    users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
  },
  async setUp(host, port) {
    const c = await app(host, port);
    await c.query('CREATE TABLE IF NOT EXISTS w (n INT PRIMARY KEY)');
    await c.end();
  },
  async writer(host, port) {
    const c = await app(host, port);
    return { insert: async (n) => void (await c.query('INSERT INTO w (n) VALUES (?)', [n])), close: () => c.end() };
  },
  async rows(host, port) {
    const c = await app(host, port);
    try {
      const [r] = await c.query<RowDataPacket[]>('SELECT n FROM w');
      return r.map((x) => Number(x.n));
    } finally {
      await c.end();
    }
  },
  async load(host, port, mb) {
    const c = await app(host, port);
    try {
      await c.query('CREATE TABLE IF NOT EXISTS bulk (id INT AUTO_INCREMENT PRIMARY KEY, body MEDIUMBLOB)');
      const row = randomBytes(64 * 1024);
      for (let done = 0; done < mb * 16; done += 16) await c.query('INSERT INTO bulk (body) VALUES ?', [Array.from({ length: 16 }, () => [row])]);
    } finally {
      await c.end();
    }
  },
  serverPid: (t: TestController, id: string) => Number(readFileSync(join(t.controller.provisioner.stateDirOf(id), 'run', 'mysqld.service.pid'), 'utf8').trim()),
  byHand,
};
