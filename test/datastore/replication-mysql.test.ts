// MariaDB replication on the agent side, against three real servers: a
// source, and replicas built the way the controller builds them (a backup of
// the source restored through prepare, then following it by GTID). Then a
// switchover by hand with the manager's own operations (fence, catch up,
// promote, rejoin), errant transactions refused on rejoin, and semi-sync.
import { rmSync } from 'node:fs';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { ReplicationRole, type ReplicationStatus } from '../../managers/sdk/replication.js';
import { ADMIN_SECRET, mysqlPaths } from '../../managers/mysql/paths.js';
import { compareGtid } from '../../managers/mysql/gtid.js';
import { createMysqlInstance, mysqlUnavailableReason, testOp, type MysqlInstance } from '../fixtures/mysql-instance.js';
import { tempStore, testGrant } from '../fixtures/backup-storage.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { prepareRequest } from '../fixtures/datastore-suite.js';
import { waitFor } from '../fixtures/controller.js';

const reason = await mysqlUnavailableReason();
if (reason) console.warn(`\n*** SKIPPED: mysql replication tests cannot run here: ${reason} ***\n`);

const CREDS = { user: 'steward_repl', password: 'repl-secret-0123456789' };
const APP = { user: 'app', password: 'app-pw-123' };

async function admin(inst: MysqlInstance): Promise<Connection> {
  const password = await inst.ctx.secrets.get(ADMIN_SECRET);
  return mysql.createConnection({ socketPath: mysqlPaths(inst.ctx).socket, user: 'steward_admin', password });
}

/** A client as an application connects: over TCP as a user without admin rights. */
const app = (inst: MysqlInstance) => mysql.createConnection({ host: '127.0.0.1', port: inst.port, user: APP.user, password: APP.password, database: 'shop' });

async function count(inst: MysqlInstance): Promise<number> {
  const c = await admin(inst);
  try {
    const [[row]] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM shop.items');
    return Number(row.n);
  } finally {
    await c.end();
  }
}

async function insert(inst: MysqlInstance, from: number, n: number): Promise<void> {
  const c = await app(inst);
  try {
    for (let i = from; i < from + n; i++) await c.query('INSERT INTO items VALUES (?, ?)', [i, `item-${i}`]);
  } finally {
    await c.end();
  }
}

describe.skipIf(!!reason)('MariaDB replication (GTID, process backend)', () => {
  let src: MysqlInstance;
  let r1: MysqlInstance;
  let r2: MysqlInstance;
  let root: string;
  let storage: BackupStorage;
  let full: BackupArtifact;
  const grant = testGrant();
  const attachTo = (source: MysqlInstance, name: string, term = 1, synchronous = false) => ({
    term,
    sourceHost: '127.0.0.1',
    sourcePort: source.port,
    credentials: CREDS,
    name,
    synchronous,
  });
  const status = (inst: MysqlInstance): Promise<ReplicationStatus> => inst.manager.replication.status(testOp());
  const caughtUp = (replica: MysqlInstance, primary: MysqlInstance) =>
    waitFor(
      'the replica to apply everything',
      async () => {
        const [p, r] = await Promise.all([status(primary), status(replica)]);
        return r.connected && compareGtid(r.position, p.position) === 0 && r;
      },
      30_000,
      100,
    );

  beforeAll(async () => {
    ({ root, storage } = tempStore('steward-replstore-'));
    [src, r1, r2] = await Promise.all([createMysqlInstance(), createMysqlInstance(), createMysqlInstance()]);
    const appUser = { name: APP.user, host: '%', password: APP.password, access: [{ database: 'shop' }], permissions: '' };
    await src.manager.prepare(
      prepareRequest({ databases: [{ name: 'shop', characterSet: '', collation: '', ctype: '', replication: {} }], users: [appUser] }),
      testOp(),
    );
    const c = await admin(src);
    await c.query('CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB');
    await c.end();
    await insert(src, 0, 100);
  });

  afterAll(async () => {
    await Promise.all([src?.teardown(), r1?.teardown(), r2?.teardown()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('a source serves replicas: the replication account, GTIDs in every backup', async () => {
    const st = await src.manager.replication.configureSource({ term: 1, credentials: CREDS, synchronous: false, replicas: [], failoverGuard: true }, testOp());
    expect(st.role).toBe(ReplicationRole.PRIMARY);
    expect(st.position).toMatch(/^0-\d+-\d+$/);
    expect(src.manager.replication.restartOnCrash()).toBe(false); // the controller fails it over instead
    full = await src.manager.backup.create(
      { backupId: 'seed-1', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' },
      testOp(),
    );
    expect(full.facts.gtid).toBe(st.position);
  });

  it('replicas restored from that backup follow the source by GTID, read-only, with what came after the backup', async () => {
    await insert(src, 100, 50); // after the backup: must arrive through replication
    const restore = { storage, chain: [{ artifact: full, key: grant }] };
    await Promise.all([
      r1.manager.prepare(prepareRequest({ restore, replicaOf: attachTo(src, 'r1') }), testOp()),
      r2.manager.prepare(prepareRequest({ restore, replicaOf: attachTo(src, 'r2') }), testOp()),
    ]);
    for (const r of [r1, r2]) {
      const st = await caughtUp(r, src);
      expect(st).toMatchObject({ role: ReplicationRole.REPLICA, readOnly: true, sourceHost: '127.0.0.1', error: '' });
      expect(st.lagSeconds).toBeGreaterThanOrEqual(0);
      expect(await count(r)).toBe(150);
      // An application cannot write to a replica.
      await expect(insert(r, 10_000, 1)).rejects.toThrow(/read-only/);
    }
    const primary = await status(src);
    expect(primary.replicas.map((x) => x.host).sort()).toEqual(['127.0.0.1', '127.0.0.1']);
    // The replicas' own accounts never reached their binary log: their positions are the source's, nothing more.
    expect(compareGtid((await status(r1)).position, primary.position)).toBe(0);
  });

  it('switchover by hand: fence, catch up, promote without a restart, rejoin the old primary; every write survives', async () => {
    await insert(src, 150, 20);
    const fenced = await src.manager.replication.fence(testOp());
    expect(fenced).toMatchObject({ fenced: true, readOnly: true });
    await expect(insert(src, 20_000, 1)).rejects.toThrow(/read-only/);
    const at = (await status(src)).position;
    await r1.manager.replication.waitFor(at, 10_000, testOp());
    const pidBefore = await r1.ctx.service.pid(await r1.manager.serviceSpec());
    const promoted = await r1.manager.replication.promote(
      { term: 2, source: { term: 2, credentials: CREDS, synchronous: false, replicas: [], failoverGuard: true } },
      testOp(),
    );
    expect(promoted).toMatchObject({ role: ReplicationRole.PRIMARY, readOnly: false, fenced: false });
    expect(await r1.ctx.service.pid(await r1.manager.serviceSpec())).toBe(pidBefore);
    // The other replica and the old primary follow the new one.
    await r2.manager.replication.attach(attachTo(r1, 'r2', 2), testOp());
    const rejoined = await src.manager.replication.rejoin({ attach: attachTo(r1, 'old', 2), promotedAt: promoted.position }, testOp());
    expect(rejoined.role).toBe(ReplicationRole.REPLICA);
    await insert(r1, 170, 30);
    for (const r of [r2, src]) {
      await caughtUp(r, r1);
      expect(await count(r)).toBe(200);
    }
    await expect(insert(src, 20_001, 1)).rejects.toThrow(/read-only/);
  });

  it('a former primary with transactions the new one never got is refused on rejoin (DATA_LOSS): it must be rebuilt', async () => {
    // r1 is the primary, src follows it. Make src "write on its own", as a primary cut off before a failover would.
    const c = await admin(src);
    await c.query('STOP SLAVE');
    await c.query('SET GLOBAL read_only = OFF');
    await c.query("INSERT INTO shop.items VALUES (99999, 'errant')");
    await c.end();
    const err = await expectCode(
      src.manager.replication.rejoin({ attach: attachTo(r1, 'old', 3), promotedAt: (await status(r1)).position }, testOp()),
      'DATA_LOSS',
    );
    expect(err.message).toMatch(/transactions the new primary never received/);
    expect((await status(src)).readOnly).toBe(true); // never writable again on its own
  });

  it('semi-synchronous: the primary waits for a replica; a switchover to it loses nothing', async () => {
    await r1.manager.replication.configureSource({ term: 3, credentials: CREDS, synchronous: true, replicas: [], failoverGuard: true }, testOp());
    await r2.manager.replication.attach(attachTo(r1, 'r2', 3, true), testOp());
    const st = await waitFor(
      'semi-sync on',
      async () => {
        const s = await status(r1);
        return s.synchronous && s;
      },
      30_000,
      100,
    );
    expect(st.synchronous).toBe(true);
    await insert(r1, 200, 10);
    // Acknowledged means on the replica: its received position already has every acknowledged write.
    const r2st = await status(r2);
    expect(compareGtid(r2st.received, (await status(r1)).position)).toBe(0);
    expect(r2st.synchronous).toBe(true);
  });
});
