// PostgreSQL backups end to end at the datastore level: real servers started
// by the agent's process backend, pg_basebackup and the WAL archive through
// the real pipeline, and restores through prepare into fresh instances,
// compared with the source by content (row counts and an md5 of every table's
// rows in key order), never by "the command succeeded".
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { DatastoreStatus, type PrepareRequest } from '../../managers/sdk/types.js';
import { sessionsWith } from '../../managers/postgresql/connection.js';
import { ADMIN_REPLICATION_LINE, applyHba, renderHba } from '../../managers/postgresql/hba.js';
import { ADMIN_SECRET } from '../../managers/postgresql/paths.js';
import { walArchiveDir } from '../../managers/postgresql/wal-archive.js';
import { RETENTION_FILE, segmentOfArchiveFile } from '../../managers/postgresql/wal-retention.js';
import { parseWalFileName } from '../../managers/postgresql/wal.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { createPostgresqlInstance, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';
import { expectStored, flippedCopy, tempStore, testGrant } from '../fixtures/backup-storage.js';
import { expectCode } from '../fixtures/datastore-assertions.js';

const reason = await postgresqlUnavailableReason();

type Snapshot = Record<string, { rows: number; content: string }>;
const DATABASES = ['shop', 'audit'];

const db = (name: string) => ({ name, characterSet: '', collation: '', ctype: '', replication: {} });

/** A session as the instance's admin role over its socket, with `password` (its own unless given). */
async function admin<T>(inst: PostgresqlInstance, fn: (c: pg.Client) => Promise<T>, database = 'postgres', password?: string): Promise<T> {
  const c = new pg.Client({
    host: inst.ctx.runDir,
    port: inst.port,
    user: 'steward_admin',
    password: password ?? (await inst.ctx.secrets.get(ADMIN_SECRET)),
    database,
  });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Every user table of the test databases: row count and the md5 of its rows in key order. */
async function snapshot(inst: PostgresqlInstance): Promise<Snapshot> {
  const out: Snapshot = {};
  for (const database of DATABASES) {
    await admin(
      inst,
      async (c) => {
        const tables = (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).rows as Array<{ tablename: string }>;
        for (const { tablename } of tables) {
          const t = pg.escapeIdentifier(tablename);
          const [r] = (await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) AS h FROM ${t} x`)).rows;
          out[`${database}.${tablename}`] = { rows: r.n, content: r.h };
        }
      },
      database,
    );
  }
  return out;
}

if (reason) {
  describeUnavailable('PostgreSQL backup and restore', 'needs a PostgreSQL server installed', 'postgresql backup tests', reason);
} else {
  describe('PostgreSQL backup and restore (pg_basebackup + WAL archive, process backend)', () => {
    let src: PostgresqlInstance;
    const restored: PostgresqlInstance[] = [];
    let root: string;
    let storage: BackupStorage;
    let full: BackupArtifact;
    let incr1: BackupArtifact;
    let incr2: BackupArtifact;
    let afterFull: Snapshot;
    let afterIncr1: Snapshot;
    let afterIncr2: Snapshot;
    const grant = testGrant();

    const sql = (database: string, ...statements: string[]) =>
      admin(
        src,
        async (c) => {
          for (const s of statements) await c.query(s);
        },
        database,
      );

    const backup = (backupId: string, type: BackupType, parent?: BackupArtifact, compression = 'zstd', op = testOp()) =>
      src.manager.backup.create({ backupId, type, parent, storage, key: grant, compression }, op);

    /** What the source's WAL archive holds (the retention record aside). */
    const archived = () => readdirSync(walArchiveDir(src.ctx)).filter((n) => n !== RETENTION_FILE);

    /** Nothing of the backup's timeline before its end_wal is left; its end_wal is still there; history files stay. */
    function expectPrunedTo(b: BackupArtifact): void {
      const size = Number(b.facts.wal_segment_size);
      const keep = parseWalFileName(b.facts.end_wal, size);
      const names = archived();
      expect(names).toContain(b.facts.end_wal);
      for (const name of names) {
        if (/^[0-9A-F]{8}\.history$/.test(name)) continue;
        const of = segmentOfArchiveFile(name);
        expect(of, `unexpected file ${name} in the WAL archive`).toBeDefined();
        const seg = parseWalFileName(of!.segment, size);
        if (seg.timeline === keep.timeline) expect(seg.segno >= keep.segno, `${name} is older than ${b.facts.end_wal}`).toBe(true);
      }
    }

    const restoreRequest = (chain: BackupArtifact[], over: Partial<PrepareRequest> = {}): PrepareRequest =>
      prepareRequest({ restore: { storage, chain: chain.map((artifact) => ({ artifact, key: grant })) }, ...over });

    async function freshInstance(): Promise<PostgresqlInstance> {
      const inst = await createPostgresqlInstance({ memoryMb: 256 });
      restored.push(inst);
      return inst;
    }

    /** Restores `chain` through prepare into a fresh instance. */
    async function restoreInto(chain: BackupArtifact[], inst?: PostgresqlInstance): Promise<PostgresqlInstance> {
      const dst = inst ?? (await freshInstance());
      const op = testOp();
      await dst.manager.prepare(restoreRequest(chain), op);
      const percents = op.steps.map((s) => s.percent);
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      expect(op.steps.some((s) => /recovering/.test(s.message))).toBe(true);
      return dst;
    }

    beforeAll(async () => {
      ({ root, storage } = tempStore('steward-pgbk-'));
      src = await createPostgresqlInstance({ memoryMb: 256 });
      await src.manager.prepare(
        prepareRequest({
          databases: [db('shop'), db('audit')],
          users: [{ name: 'alice', host: '', password: 'alice-pw-1', access: [{ database: 'shop' }], permissions: '' }],
        }),
        testOp(),
      );
      // A few MB over several tables: text that compresses, and bytes that do not.
      await sql(
        'shop',
        'CREATE TABLE items (id int PRIMARY KEY, name text, body text, price numeric(10,2))',
        "INSERT INTO items SELECT g, 'item-' || g, repeat(md5(g::text), 4), (g % 997) + 0.5 FROM generate_series(1, 20000) g",
        'CREATE TABLE blobs (id int PRIMARY KEY, data bytea)',
        "INSERT INTO blobs SELECT g, decode(repeat(md5(random()::text), 32), 'hex') FROM generate_series(1, 2000) g",
      );
      await sql('audit', 'CREATE TABLE log (id serial PRIMARY KEY, msg text)', "INSERT INTO log (msg) VALUES ('created'), ('seeded')");
    });

    afterAll(async () => {
      const specs = await Promise.all([src, ...restored].filter(Boolean).map((i) => i.manager.serviceSpec().catch(() => undefined)));
      await Promise.all([src, ...restored].map((i) => i?.teardown()));
      for (const spec of specs) if (spec) expect(serverProcesses(spec)).toEqual([]);
      if (root) rmSync(root, { recursive: true, force: true });
    });

    // First: its full backup prunes the WAL archive up to its own end, so full-1 (next) is the latest when incr-1 continues it.
    it("gives an instance prepared before backups existed the admin's replication line", async () => {
      const sessions = sessionsWith(
        async () => ({ host: src.ctx.runDir, port: src.port, user: 'steward_admin', password: (await src.ctx.secrets.get(ADMIN_SECRET))! }),
        AbortSignal.timeout(30_000),
      );
      const hbaFile = join(src.ctx.configDir, 'pg_hba.conf');
      const owner = { uid: process.getuid?.(), gid: statSync(hbaFile).gid };
      await applyHba(sessions, hbaFile, renderHba({ rootOverTcp: false }), owner, AbortSignal.timeout(30_000));
      const a = await backup('full-old-hba', BackupType.FULL, undefined, 'none');
      // Uncompressed: the stored size is the tar plus the secretstream header and one tag per 64 KiB record.
      expect(a.size).toBe(24 + a.rawSize + 17 * (Math.floor(a.rawSize / 65536) + 1));
      expect(readFileSync(hbaFile, 'utf8')).toContain(ADMIN_REPLICATION_LINE);
      rmSync(join(root, src.ctx.instanceId, 'full-old-hba'), { recursive: true });
    });

    it('makes a full backup: pg_basebackup stored, checksummed, with its WAL span recorded', async () => {
      afterFull = await snapshot(src);
      expect(afterFull['shop.items'].rows).toBe(20_000);
      const op = testOp();
      full = await backup('full-1', BackupType.FULL, undefined, 'zstd', op);
      expect(full.type).toBe(BackupType.FULL);
      expect(full.datastore).toBe('postgresql');
      expect(full.datastoreVersion).toMatch(/^\d+\.\d+/);
      expect(full.facts).toMatchObject({ format: 'pg_basebackup-tar', timeline: '1', wal_segment_size: String(16 * 1024 * 1024) });
      expect(full.facts.start_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(full.facts.end_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(full.facts.start_wal <= full.facts.end_wal).toBe(true);
      expect(full.facts.system_identifier).toMatch(/^\d+$/);
      expect(full.rawSize).toBeGreaterThan(full.size); // zstd on heap pages and WAL
      expectStored(root, full, op, src.ctx.stateDir);
      // No replication slot outlives the run.
      expect(await admin(src, async (c) => (await c.query('SELECT count(*)::int AS n FROM pg_replication_slots')).rows[0].n)).toBe(0);
      // The server archives its WAL into the instance's archive, which keeps nothing from before this backup's end.
      expect(readdirSync(walArchiveDir(src.ctx))).toContain(full.facts.end_wal);
      expectPrunedTo(full);
      expect(op.steps.at(-1)?.message).toMatch(/; WAL archive: \d+ segments \(\d+ bytes\) before [0-9A-F]{24} removed$/);
      // Operators see the archive's size in the probe.
      const { facts } = await src.manager.probe();
      const segments = archived().filter((n) => /^[0-9A-F]{24}$/.test(n));
      expect(Number(facts.wal_archive_segments)).toBe(segments.length);
      expect(Number(facts.wal_archive_bytes)).toBeGreaterThanOrEqual(segments.length * 16 * 1024 * 1024);
    });

    it('makes an incremental backup: the archived WAL since the full one', async () => {
      await sql(
        'shop',
        'UPDATE items SET price = price * 2 WHERE id % 10 = 0',
        'DELETE FROM items WHERE id % 17 = 0',
        "INSERT INTO items SELECT g, 'late-' || g, md5(g::text), 1.25 FROM generate_series(100001, 103000) g",
        'CREATE TABLE orders (id int PRIMARY KEY, item int, qty int)',
        'INSERT INTO orders VALUES (1, 5, 2), (2, 100001, 7)',
      );
      await sql('audit', "INSERT INTO log (msg) VALUES ('changed')");
      afterIncr1 = await snapshot(src);
      expect(afterIncr1).not.toEqual(afterFull);
      incr1 = await backup('incr-1', BackupType.INCREMENTAL, full);
      expect(incr1).toMatchObject({ type: BackupType.INCREMENTAL, parentId: 'full-1' });
      expect(incr1.facts).toMatchObject({ format: 'wal-tar', timeline: '1', start_wal: full.facts.end_wal, start_lsn: full.facts.end_lsn });
      expect(incr1.facts.end_wal > full.facts.end_wal).toBe(true);
      expect(incr1.facts.restore_point).toMatch(/^steward-incr-1-[0-9a-f]{8}$/);
      expect(readdirSync(src.ctx.stateDir)).not.toContain('backup-work');
      expectPrunedTo(incr1);
    });

    it('makes a second incremental on top of the first', async () => {
      await sql('shop', 'UPDATE orders SET qty = qty + 1', 'DELETE FROM blobs WHERE id > 1500', 'INSERT INTO orders VALUES (3, 7, 1)');
      await sql('audit', "INSERT INTO log (msg) SELECT 'bulk ' || g FROM generate_series(1, 5000) g");
      afterIncr2 = await snapshot(src);
      incr2 = await backup('incr-2', BackupType.INCREMENTAL, incr1, 'gzip');
      expect(incr2.facts).toMatchObject({ start_wal: incr1.facts.end_wal, start_lsn: incr1.facts.end_lsn, system_identifier: full.facts.system_identifier });
      expectPrunedTo(incr2);
    });

    it('refuses an incremental on an older parent once a later backup pruned its WAL, and stores nothing', async () => {
      for (const older of [full, incr1]) {
        const err = await expectCode(backup('incr-old', BackupType.INCREMENTAL, older), 'FAILED_PRECONDITION');
        expect(err.message).toContain(
          `the WAL since parent backup ${older.backupId} is no longer complete in the WAL archive: ${older.facts.end_wal} is missing`,
        );
        expect(err.message).toContain('pruned after the later backup incr-2');
        expect(err.message).toContain('take a full backup, or an incremental with incr-2 as its parent');
        expect(readdirSync(join(root, src.ctx.instanceId)).sort()).toEqual(['full-1', 'incr-1', 'incr-2']);
        expect(readdirSync(src.ctx.stateDir)).not.toContain('backup-work');
      }
      // The failed attempts pruned nothing more: incr-2 can still be continued.
      expectPrunedTo(incr2);
      expect(archived()).toContain(incr2.facts.end_wal);
    });

    it('refuses a chain with a flipped byte in a stored backup, leaving the data directory empty and nothing served', async () => {
      const dir = join(root, src.ctx.instanceId);
      const broken = flippedCopy(root, incr2, 'incr-flip');
      const dst = await freshInstance();
      const err = await expectCode(dst.manager.prepare(restoreRequest([full, incr1, broken]), testOp()), 'FAILED_PRECONDITION');
      expect(err.message).toMatch(/backup incr-2 is corrupt or incomplete in storage: checksum .* does not match/);
      expect(await readdir(dst.ctx.dataDir).catch(() => [])).toEqual([]);
      expect(await dst.manager.isPrepared()).toBe(false);
      expect(await dst.ctx.service.state(await dst.manager.serviceSpec())).toBe('stopped');
      expect(readdirSync(dst.ctx.stateDir)).not.toContain('restore-staging');
      rmSync(join(dir, 'incr-flip'), { recursive: true });

      // The same instance then restores the full backup alone (a retried prepare starts over).
      await restoreInto([full], dst);
      expect(await snapshot(dst)).toEqual(afterFull);
      expect((await dst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
    });

    it('restores the full backup alone: the data as it was then, with its own admin password', async () => {
      const dst = restored.at(-1)!;
      // The restored cluster came with the source's admin password; the instance's own replaced it.
      const own = (await dst.ctx.secrets.get(ADMIN_SECRET))!;
      const source = (await src.ctx.secrets.get(ADMIN_SECRET))!;
      expect(own).not.toBe(source);
      expect(await admin(dst, async (c) => (await c.query('SELECT current_user AS u')).rows[0].u, 'postgres', own)).toBe('steward_admin');
      const refused = await admin(dst, async () => 'ok', 'postgres', source).catch((e: { code?: string }) => e.code);
      expect(refused).toBe('28P01');
      // The source's users come with their data and passwords, over TCP as before.
      const alice = new pg.Client({ host: '127.0.0.1', port: dst.port, user: 'alice', password: 'alice-pw-1', database: 'shop' });
      await alice.connect();
      expect((await alice.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(20_000);
      await alice.end();
      // Recovery settings are gone from the configuration, and the instance archives its own WAL (new timeline).
      const conf = readFileSync(join(dst.ctx.configDir, 'postgresql.conf'), 'utf8');
      expect(conf).not.toMatch(/restore_command|recovery_target/);
      expect(conf).toContain(walArchiveDir(dst.ctx));
      expect(readdirSync(dst.ctx.stateDir).filter((f) => f.startsWith('restore-'))).toEqual([]);
      expect(existsSync(join(dst.ctx.dataDir, 'recovery.signal'))).toBe(false);
    });

    it('restores full + incremental to the first incremental, not past it', async () => {
      const dst = await restoreInto([full, incr1]);
      expect(await snapshot(dst)).toEqual(afterIncr1);
    });

    it('restores the whole chain in order: the data as it is now', async () => {
      const dst = await restoreInto([full, incr1, incr2]);
      expect(await snapshot(dst)).toEqual(afterIncr2);
      expect(await snapshot(dst)).toEqual(await snapshot(src));
      expect((await dst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      // A restored instance backs up on its own: a full and an incremental on its new timeline.
      const ops = dst.manager.backup;
      const f = await ops.create({ backupId: 'r-full', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' }, testOp());
      expect(Number(f.facts.timeline)).toBeGreaterThan(1);
      const i = await ops.create({ backupId: 'r-incr', type: BackupType.INCREMENTAL, parent: f, storage, key: grant, compression: 'zstd' }, testOp());
      expect(i.facts.timeline).toBe(f.facts.timeline);
    });

    it('fails a chain that verifies but never reaches its target: the data directory is emptied and nothing is served', async () => {
      // incr-1 recorded as ending at incr-2's restore point: every object checks out, but that WAL is not in the chain.
      const short = { ...incr1, facts: { ...incr1.facts, restore_point: incr2.facts.restore_point } };
      const dst = await freshInstance();
      const err = await expectCode(dst.manager.prepare(restoreRequest([full, short]), testOp()), 'FAILED_PRECONDITION');
      expect(err.message).toMatch(/did not recover[\s\S]*recovery ended before configured recovery target was reached/);
      expect(await readdir(dst.ctx.dataDir)).toEqual([]);
      expect(await dst.manager.isPrepared()).toBe(false);
      const spec = await dst.manager.serviceSpec();
      expect(await dst.ctx.service.state(spec)).toBe('stopped');
      expect(serverProcesses(spec)).toEqual([]);
      expect(readFileSync(join(dst.ctx.configDir, 'postgresql.conf'), 'utf8')).not.toMatch(/restore_command/);
    });

    it('refuses an incremental whose parent WAL is no longer complete in the archive, and stores nothing', async () => {
      const archive = walArchiveDir(src.ctx);
      // A segment after incr-2's end (archived once it is switched out), in the middle of the next range.
      await sql('audit', "INSERT INTO log (msg) VALUES ('after incr-2')");
      const next = await admin(src, async (c) => (await c.query('SELECT pg_walfile_name(pg_switch_wal()) AS w')).rows[0].w as string);
      expect(next > incr2.facts.end_wal).toBe(true);
      for (let i = 0; !existsSync(join(archive, next)); i++) {
        expect(i).toBeLessThan(300);
        await new Promise((r) => setTimeout(r, 100));
      }
      // That segment, then the parent's own last one.
      for (const gone of [next, incr2.facts.end_wal]) {
        renameSync(join(archive, gone), join(src.dir, gone));
        try {
          const err = await expectCode(backup('incr-gap', BackupType.INCREMENTAL, incr2), 'FAILED_PRECONDITION');
          // Not pruned by the agent (it is not before the latest backup's end): no other parent is suggested.
          expect(err.message).toContain(`the WAL since parent backup incr-2 is no longer complete in the WAL archive: ${gone} is missing; take a full backup`);
          expect(err.message).not.toMatch(/pruned/);
        } finally {
          renameSync(join(src.dir, gone), join(archive, gone));
        }
        expect(readdirSync(join(root, src.ctx.instanceId))).not.toContain('incr-gap');
      }
    });

    it('refuses requests it cannot honour before touching storage', async () => {
      await expectCode(backup('bad-1', BackupType.INCREMENTAL, undefined), 'INVALID_ARGUMENT');
      await expectCode(backup('bad-2', BackupType.INCREMENTAL, { ...full, facts: {} }), 'FAILED_PRECONDITION');
      await expectCode(backup('bad-3', BackupType.INCREMENTAL, { ...full, instanceId: 'someone-else' }), 'FAILED_PRECONDITION');
      await expectCode(backup('bad-4', BackupType.INCREMENTAL, { ...full, facts: { ...full.facts, system_identifier: '1' } }), 'FAILED_PRECONDITION');
      await expectCode(backup('bad-5', BackupType.FULL, undefined, 'lz4'), 'INVALID_ARGUMENT');
      // A parent whose WAL was never archived (a position far ahead of this server's).
      const future = { ...full, facts: { ...full.facts, end_wal: '000000010000000F000000FF' } };
      await expectCode(backup('bad-6', BackupType.INCREMENTAL, future), 'FAILED_PRECONDITION');
      expect(readdirSync(join(root, src.ctx.instanceId)).sort()).toEqual(['full-1', 'incr-1', 'incr-2']);

      // Prepare refuses a restore mixed with databases or users, and a chain that does not start with a full backup.
      const dst = await freshInstance();
      const prepare = (req: PrepareRequest) => dst.agent.prepare(req, testOp());
      await expectCode(prepare(restoreRequest([full], { databases: [db('extra')] })), 'INVALID_ARGUMENT', 'databases');
      await expectCode(
        prepare(restoreRequest([full], { users: [{ name: 'bob', host: '', password: 'pw', access: [], permissions: '' }] })),
        'INVALID_ARGUMENT',
        'users',
      );
      await expectCode(prepare(restoreRequest([incr1])), 'FAILED_PRECONDITION');
      await expectCode(prepare(restoreRequest([full, incr2])), 'FAILED_PRECONDITION');
      expect(await dst.manager.isPrepared()).toBe(false);
      expect(await readdir(dst.ctx.dataDir).catch(() => [])).toEqual([]);
    });
  });
}
