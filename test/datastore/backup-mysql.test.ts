// MariaDB backups end to end at the datastore level: a real server started by
// the agent's process backend, mariadb-backup through the real pipeline, and
// restores into fresh instances compared with the source by content (row
// counts and content checksums per table), never by "the command succeeded".
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { mysqlBackupOps } from '../../managers/mysql/backup.js';
import { withSession } from '../../managers/mysql/connection.js';
import { ADMIN_SECRET, mysqlPaths } from '../../managers/mysql/paths.js';
import { waitUntilReady } from '../../managers/mysql/readiness.js';
import { createAdmin, secureInstallation } from '../../managers/mysql/secure.js';
import { createMysqlInstance, mysqlUnavailableReason, testOp, type MysqlInstance } from '../fixtures/mysql-instance.js';
import { s3ServerBinary, startS3Server, type S3Server } from '../fixtures/s3-server.js';
import { expectStored, flippedCopy, tempStore, testGrant } from '../fixtures/backup-storage.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { restoreChain } from '../../managers/mysql/restore.js';

const reason = await mysqlUnavailableReason();
if (reason) console.warn(`\n*** SKIPPED: mysql backup tests cannot run here: ${reason} ***\n`);

const EMPTY_PREPARE = {
  memoryMb: 0,
  port: 0,
  bindAddress: '',
  databases: [],
  users: [],
  cluster: undefined,
  restore: undefined,
  replicaOf: undefined,
  configuration: {},
};

type Snapshot = Record<string, { rows: number; content: string }>;

async function admin(inst: MysqlInstance): Promise<Connection> {
  const password = await inst.ctx.secrets.get(ADMIN_SECRET);
  return mysql.createConnection({ socketPath: mysqlPaths(inst.ctx).socket, user: 'steward_admin', password, multipleStatements: false });
}

/** Every user table: row count and a checksum of its content in key order. */
async function snapshot(inst: MysqlInstance): Promise<Snapshot> {
  const c = await admin(inst);
  try {
    const [tables] = await c.query<RowDataPacket[]>(
      "SELECT TABLE_SCHEMA s, TABLE_NAME t FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('shop', 'audit') ORDER BY 1, 2",
    );
    const out: Snapshot = {};
    for (const { s, t } of tables) {
      const [[count]] = await c.query<RowDataPacket[]>(`SELECT COUNT(*) n FROM \`${s}\`.\`${t}\``);
      const [[sum]] = await c.query<RowDataPacket[]>(`CHECKSUM TABLE \`${s}\`.\`${t}\` EXTENDED`);
      out[`${s}.${t}`] = { rows: Number(count.n), content: String(sum.Checksum) };
    }
    return out;
  } finally {
    await c.end();
  }
}

describe.skipIf(!!reason)('MariaDB backup and restore (mariadb-backup, process backend)', () => {
  let src: MysqlInstance;
  let dst: MysqlInstance;
  let root: string;
  let storage: BackupStorage;
  let full: BackupArtifact;
  let incr: BackupArtifact;
  let afterFull: Snapshot;
  let afterIncr: Snapshot;
  const grant = testGrant();

  beforeAll(async () => {
    ({ root, storage } = tempStore());
    [src, dst] = await Promise.all([createMysqlInstance(), createMysqlInstance()]);
    await src.manager.prepare({ ...EMPTY_PREPARE, databases: [{ name: 'shop', characterSet: '', collation: '', ctype: '', replication: {} }] }, testOp());
    await dst.manager.prepare(EMPTY_PREPARE, testOp());
    const c = await admin(src);
    try {
      await c.query('CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64), body TEXT, price DECIMAL(10,2)) ENGINE=InnoDB');
      await c.query('CREATE DATABASE audit');
      await c.query('CREATE TABLE audit.log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200)) ENGINE=Aria');
      for (let batch = 0; batch < 20; batch++) {
        const rows = Array.from({ length: 1000 }, (_, i) => {
          const id = batch * 1000 + i;
          return [id, `item-${id}`, randomBytes(120).toString('base64'), (id % 997) + 0.5];
        });
        await c.query('INSERT INTO shop.items VALUES ?', [rows]);
      }
      await c.query("INSERT INTO audit.log (msg) VALUES ('created'), ('seeded')");
    } finally {
      await c.end();
    }
  });

  afterAll(async () => {
    await Promise.all([src?.teardown(), dst?.teardown()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** What prepare does with a restore: fill the empty data directory, start, re-create the agent's admin account. */
  async function restoreInto(inst: MysqlInstance, chain: BackupArtifact[], store = storage): Promise<void> {
    const spec = await inst.manager.serviceSpec();
    await inst.ctx.service.stop(spec);
    await rm(inst.ctx.dataDir, { recursive: true, force: true });
    await restoreChain(
      { ctx: inst.ctx, paths: mysqlPaths(inst.ctx) },
      { storage: store, chain: chain.map((artifact) => ({ artifact, key: grant })) },
      testOp(),
    );
    await inst.ctx.service.start(spec);
    const paths = mysqlPaths(inst.ctx);
    const osRoot = { socket: paths.socket, user: 'root' };
    const signal = AbortSignal.timeout(120_000);
    await waitUntilReady(osRoot, { service: inst.ctx.service, spec, errorLog: paths.errorLog }, signal);
    const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
    await withSession(
      osRoot,
      async (s) => {
        await secureInstallation(s);
        await createAdmin(s, password);
      },
      signal,
    );
  }

  const backup = (backupId: string, type: BackupType, parent?: BackupArtifact, compression = 'zstd', op = testOp()) =>
    mysqlBackupOps({ ctx: src.ctx, paths: mysqlPaths(src.ctx) }).create({ backupId, type, parent, storage, key: grant, compression }, op);

  it('makes a full backup: stored, checksummed, with its LSN recorded', async () => {
    afterFull = await snapshot(src);
    expect(afterFull['shop.items'].rows).toBe(20_000);
    const op = testOp();
    full = await backup('full-1', BackupType.FULL, undefined, 'zstd', op);
    expect(full.type).toBe(BackupType.FULL);
    expect(full.datastoreVersion).toMatch(/MariaDB/);
    expect(full.facts.to_lsn).toMatch(/^\d+$/);
    expect(full.rawSize).toBeGreaterThan(full.size); // zstd on InnoDB pages
    expectStored(root, full, op, src.ctx.stateDir);
  });

  it('makes an incremental backup of the changes since the full one', async () => {
    const c = await admin(src);
    try {
      await c.query('UPDATE shop.items SET price = price * 2 WHERE id % 10 = 0');
      await c.query('DELETE FROM shop.items WHERE id % 17 = 0');
      const rows = Array.from({ length: 3000 }, (_, i) => [100_000 + i, `late-${i}`, randomBytes(60).toString('hex'), 1.25]);
      await c.query('INSERT INTO shop.items VALUES ?', [rows]);
      await c.query('CREATE TABLE shop.orders (id INT PRIMARY KEY, item INT, qty INT) ENGINE=InnoDB');
      await c.query('INSERT INTO shop.orders VALUES (1, 5, 2), (2, 100001, 7)');
      await c.query("INSERT INTO audit.log (msg) VALUES ('changed')");
    } finally {
      await c.end();
    }
    afterIncr = await snapshot(src);
    expect(afterIncr).not.toEqual(afterFull);
    incr = await backup('incr-1', BackupType.INCREMENTAL, full);
    expect(incr.parentId).toBe('full-1');
    expect(incr.facts.from_lsn).toBe(full.facts.to_lsn);
    // to_lsn is the checkpoint the copy started from (it may not have moved); the redo copied ends later.
    expect(BigInt(incr.facts.to_lsn)).toBeGreaterThanOrEqual(BigInt(full.facts.to_lsn));
    expect(BigInt(incr.facts.last_lsn)).toBeGreaterThan(BigInt(full.facts.last_lsn));
    // No size assertion: pages changed after the full backup's checkpoint (to_lsn) are copied again,
    // and on a freshly loaded server that checkpoint may predate the whole load.
    expect(incr.type).toBe(BackupType.INCREMENTAL);
  });

  it('restores the full backup alone into a fresh instance: the data as it was then', async () => {
    await restoreInto(dst, [full]);
    expect(await snapshot(dst)).toEqual(afterFull);
  });

  it('restores the chain (full + incremental) in order: the data as it is now', async () => {
    await restoreInto(dst, [full, incr]);
    expect(await snapshot(dst)).toEqual(afterIncr);
    expect((await dst.manager.probe()).status).toBe(4 /* HEALTHY */);
  });

  it('refuses a chain with a flipped byte in a stored backup, and writes nothing into the data directory', async () => {
    const broken = flippedCopy(root, incr, 'incr-flip');
    const spec = await dst.manager.serviceSpec();
    await dst.ctx.service.stop(spec);
    await rm(dst.ctx.dataDir, { recursive: true, force: true });
    const err = await expectCode(
      restoreChain({ ctx: dst.ctx, paths: mysqlPaths(dst.ctx) }, { storage, chain: [full, broken].map((artifact) => ({ artifact, key: grant })) }, testOp()),
      'FAILED_PRECONDITION',
    );
    expect(err.message).toMatch(/backup incr-1 is corrupt or incomplete in storage: checksum .* does not match/);
    expect(await readdir(dst.ctx.dataDir).catch(() => [])).toEqual([]);
    expect(readdirSync(dst.ctx.stateDir)).not.toContain('restore-staging');
  });

  it('refuses requests it cannot honour before touching storage', async () => {
    await expectCode(backup('bad-1', BackupType.INCREMENTAL, undefined), 'INVALID_ARGUMENT');
    await expectCode(backup('bad-2', BackupType.INCREMENTAL, { ...full, facts: {} }), 'FAILED_PRECONDITION');
    await expectCode(backup('bad-3', BackupType.INCREMENTAL, { ...full, instanceId: 'someone-else' }), 'FAILED_PRECONDITION');
    await expectCode(backup('bad-4', BackupType.FULL, undefined, 'lz4'), 'INVALID_ARGUMENT');
    await expectCode(
      restoreChain({ ctx: dst.ctx, paths: mysqlPaths(dst.ctx) }, { storage, chain: [{ artifact: incr, key: grant }] }, testOp()),
      'FAILED_PRECONDITION',
    );
    expect(readdirSync(join(root, src.ctx.instanceId)).sort()).toEqual(['full-1', 'incr-1', 'incr-flip']);
  });

  describe('on S3', () => {
    const bin = s3ServerBinary();
    let server: S3Server | undefined;
    afterAll(async () => server?.stop());

    it.skipIf(!!bin.reason)('backs up to and restores from a real S3-compatible server', async () => {
      server = await startS3Server(bin.path!);
      const s3: BackupStorage = {
        kind: 's3',
        path: '',
        endpoint: server.endpoint,
        region: 'us-east-1',
        bucket: server.bucket,
        prefix: 'mysql',
        accessKeyId: server.accessKeyId,
        secretAccessKey: server.secretAccessKey,
        forcePathStyle: true,
      };
      const ops = mysqlBackupOps({ ctx: src.ctx, paths: mysqlPaths(src.ctx) });
      const a = await ops.create({ backupId: 's3-full', type: BackupType.FULL, parent: undefined, storage: s3, key: grant, compression: 'gzip' }, testOp());
      expect(a.location).toBe(`s3://${server.bucket}/mysql/${src.ctx.instanceId}/s3-full/data`);
      const b = await ops.create({ backupId: 's3-incr', type: BackupType.INCREMENTAL, parent: a, storage: s3, key: grant, compression: 'gzip' }, testOp());
      await restoreInto(dst, [a, b], s3);
      expect(await snapshot(dst)).toEqual(await snapshot(src));
    });
  });
});
