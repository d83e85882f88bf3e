// PostgreSQL 15 streaming replication on the agent side, against three (and
// for a while four) real servers: a source, and replicas built the way the
// controller builds them (the source serves them a slot each, then a backup
// of it is restored through prepare as a standby following it). Then a
// switchover by hand with the manager's own operations (fence, catch up,
// promote without a restart, re-point, rewind the old primary), a former
// primary that wrote on its own rewound (or, onto another cluster, refused
// with DATA_LOSS and rebuilt), and quorum synchronous commit proven by a
// commit that waits while no synchronous standby runs; last, a replica that
// went past its new primary's fork, rewound when re-pointed.
import { readFileSync, rmSync, statSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { ReplicationRole, type ReplicationStatus } from '../../managers/sdk/replication.js';
import { lookupOsUser } from '../../managers/sdk/os-user.js';
import { ADMIN_SECRET, pgPaths } from '../../managers/postgresql/paths.js';
import { compareLsn } from '../../managers/postgresql/replication-strategy.js';
import { createPostgresqlInstance, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';
import { tempStore, testGrant } from '../fixtures/backup-storage.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { waitFor } from '../fixtures/controller.js';

const reason = await postgresqlUnavailableReason();

const CREDS = { user: 'steward_repl', password: 'repl-secret-0123456789' };
const APP = { user: 'app', password: 'app-pw-123' };

/** A session as the instance's admin over its socket (the agent's own way in: peer in a replica set, its password otherwise). */
async function admin<T>(inst: PostgresqlInstance, fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const c = new pg.Client({ host: inst.ctx.runDir, port: inst.port, user: 'steward_admin', password: await inst.ctx.secrets.get(ADMIN_SECRET), database });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A client as an application connects: over TCP as a user without admin rights. */
async function app(inst: PostgresqlInstance): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: inst.port, user: APP.user, password: APP.password, database: 'shop', connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function rows(inst: PostgresqlInstance): Promise<number[]> {
  return admin(inst, async (c) => (await c.query('SELECT id FROM items ORDER BY id')).rows.map((r) => Number(r.id)), 'shop');
}

async function insert(inst: PostgresqlInstance, from: number, n: number): Promise<void> {
  const c = await app(inst);
  try {
    for (let i = from; i < from + n; i++) await c.query('INSERT INTO items VALUES ($1, $2)', [i, `item-${i}`]);
  } finally {
    await c.end();
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

if (reason) {
  describeUnavailable('PostgreSQL replication', 'needs a PostgreSQL server installed', 'postgresql replication tests', reason);
} else {
  describe('PostgreSQL streaming replication (slots, hot standby, pg_rewind; process backend)', () => {
    let src: PostgresqlInstance;
    let r1: PostgresqlInstance;
    let r2: PostgresqlInstance;
    let root: string;
    let storage: BackupStorage;
    let full: BackupArtifact;
    const grant = testGrant();
    const extra: PostgresqlInstance[] = [];
    const attachTo = (source: PostgresqlInstance, name: string, term = 1, synchronous = false) => ({
      term,
      sourceHost: '127.0.0.1',
      sourcePort: source.port,
      credentials: CREDS,
      name,
      synchronous,
    });
    const sourceRequest = (term: number, names: string[], synchronous = false) => ({
      term,
      credentials: CREDS,
      synchronous,
      replicas: names.map((name) => ({ name, host: '127.0.0.1' })),
      failoverGuard: true,
    });
    const status = (inst: PostgresqlInstance): Promise<ReplicationStatus> => inst.manager.replication.status(testOp());
    /** The replica has applied at least what the primary had written when asked, and streams. */
    const caughtUp = (replica: PostgresqlInstance, primary: PostgresqlInstance) =>
      waitFor(
        'the replica to apply everything',
        async () => {
          const p = await status(primary);
          const r = await status(replica);
          return r.connected && (compareLsn(r.position, p.position) ?? -1) >= 0 && r;
        },
        60_000,
        100,
      );
    const backup = (of: PostgresqlInstance, backupId: string) =>
      of.manager.backup.create({ backupId, type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' }, testOp());
    const restoreOf = (a: BackupArtifact) => ({ storage, chain: [{ artifact: a, key: grant }] });
    const serverPid = async (inst: PostgresqlInstance) => inst.ctx.service.pid(await inst.manager.serviceSpec());

    beforeAll(async () => {
      ({ root, storage } = tempStore('steward-pgrepl-'));
      [src, r1, r2] = await Promise.all([createPostgresqlInstance(), createPostgresqlInstance(), createPostgresqlInstance()]);
      const appUser = { name: APP.user, host: '', password: APP.password, access: [{ database: 'shop' }], permissions: '' };
      await src.manager.prepare(
        prepareRequest({ databases: [{ name: 'shop', characterSet: '', collation: '', ctype: '', replication: {} }], users: [appUser] }),
        testOp(),
      );
      const c = await app(src);
      await c.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
      await c.end();
      await insert(src, 0, 100);
    });

    afterAll(async () => {
      await Promise.all([src?.teardown(), r1?.teardown(), r2?.teardown(), ...extra.map((e) => e.teardown())]);
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('a source serves replicas: the replication account, a slot per replica reserving WAL, the seed backup after them', async () => {
      const st = await src.manager.replication.configureSource(sourceRequest(1, ['r1', 'r2']), testOp());
      expect(st).toMatchObject({ role: ReplicationRole.PRIMARY, readOnly: false, fenced: false });
      expect(st.position).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(src.manager.replication.restartOnCrash()).toBe(false); // the controller fails it over instead
      expect(src.manager.replication.holdsWriteLease()).toBe(true);
      const slots = await admin(
        src,
        async (c) => (await c.query('SELECT slot_name, restart_lsn IS NOT NULL AS reserved FROM pg_replication_slots ORDER BY 1')).rows,
      );
      expect(slots).toEqual([
        { slot_name: 'r1', reserved: true },
        { slot_name: 'r2', reserved: true },
      ]);
      // Repeated (the controller re-sends after a restart): nothing changes, the account is not written again.
      const before = await admin(src, async (c) => (await c.query("SELECT xmin::text AS x FROM pg_authid WHERE rolname = 'steward_repl'")).rows[0].x);
      await src.manager.replication.configureSource(sourceRequest(1, ['r1', 'r2']), testOp());
      expect(await admin(src, async (c) => (await c.query("SELECT xmin::text AS x FROM pg_authid WHERE rolname = 'steward_repl'")).rows[0].x)).toBe(before);
      full = await backup(src, 'seed-1');
    });

    it('replicas restored from that backup stream from the source, read-only, with what came after it', async () => {
      await insert(src, 100, 50); // after the backup: must arrive by streaming
      await Promise.all([
        r1.manager.prepare(prepareRequest({ restore: restoreOf(full), replicaOf: attachTo(src, 'r1') }), testOp()),
        r2.manager.prepare(prepareRequest({ restore: restoreOf(full), replicaOf: attachTo(src, 'r2') }), testOp()),
      ]);
      for (const r of [r1, r2]) {
        const st = await caughtUp(r, src);
        expect(st).toMatchObject({ role: ReplicationRole.REPLICA, readOnly: true, sourceHost: '127.0.0.1', error: '' });
        expect(st.lagSeconds).toBeGreaterThanOrEqual(0);
        expect(await rows(r)).toEqual(range(0, 150));
        // An application reads from a replica and cannot write to it.
        const c = await app(r);
        expect((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(150);
        await expect(c.query("INSERT INTO items VALUES (10000, 'x')")).rejects.toThrow(/read-only transaction/);
        await c.end();
        // The probe reports the replica (the agent's admin works on a standby: peer authentication).
        expect((await r.manager.probe()).replication).toMatchObject({ role: ReplicationRole.REPLICA, connected: true });
        // The replication password is only in the server's own 0600 pass file.
        const paths = pgPaths(r.ctx);
        for (const f of [paths.configFile, paths.replicationConf, paths.hbaFile, paths.replicationFile, paths.replicationFactsFile]) {
          expect(readFileSync(f, 'utf8')).not.toContain(CREDS.password);
        }
        const pass = statSync(paths.replicationPassFile);
        expect(pass.mode & 0o777).toBe(0o600);
        expect(pass.uid).toBe((await lookupOsUser('postgres')).uid);
      }
      const primary = await status(src);
      expect(primary.replicas.map((x) => x.name)).toEqual(['r1', 'r2']);
      expect(await admin(src, async (c) => (await c.query('SELECT bool_and(active) AS all FROM pg_replication_slots')).rows[0].all)).toBe(true);
      // A replica's own (never used) admin password was not written anywhere: it has its source's role, untouched.
      expect(await r1.ctx.secrets.get(ADMIN_SECRET)).not.toBe(await src.ctx.secrets.get(ADMIN_SECRET));
      await expectCode(r1.manager.replication.waitFor('FF/0', 200, testOp()), 'DEADLINE_EXCEEDED');
      await expectCode(r1.manager.replication.waitFor('not-an-lsn', 200, testOp()), 'INVALID_ARGUMENT', 'position');
    });

    it('switchover by hand: fence, catch up, promote without a restart, re-point, rewind the old primary; every write survives', async () => {
      await insert(src, 150, 20);
      const held = await app(src); // a session opened before the fence
      const ended = new Promise<Error>((resolve) => held.on('error', resolve));
      const fenced = await src.manager.replication.fence(testOp());
      expect(fenced).toMatchObject({ fenced: true, readOnly: true, role: ReplicationRole.PRIMARY });
      expect(src.manager.replication.holdsWriteLease()).toBe(false);
      expect((await ended).message).toMatch(/terminating connection due to administrator command/);
      await expect(held.query("INSERT INTO items VALUES (20000, 'x')")).rejects.toThrow();
      await held.end().catch(() => undefined);
      // A new session cannot even start (so it cannot SET default_transaction_read_only = off for itself)...
      await expect(app(src)).rejects.toThrow(/pg_hba\.conf rejects connection/);
      // ...and the fence survives a restart of the server.
      await src.manager.restart(testOp());
      await expect(app(src)).rejects.toThrow(/pg_hba\.conf rejects connection/);
      expect(await admin(src, async (c) => (await c.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only)).toBe('on');

      const at = (await status(src)).position;
      await r1.manager.replication.waitFor(at, 30_000, testOp());
      const pidBefore = await serverPid(r1);
      const promoted = await r1.manager.replication.promote({ term: 2, source: sourceRequest(2, ['r2', 'old']) }, testOp());
      expect(promoted).toMatchObject({ role: ReplicationRole.PRIMARY, readOnly: false, fenced: false });
      expect(await serverPid(r1)).toBe(pidBefore); // promoted without a restart
      // The other replica and the old primary follow the new one.
      await r2.manager.replication.attach(attachTo(r1, 'r2', 2), testOp());
      const rejoined = await src.manager.replication.rejoin({ attach: attachTo(r1, 'old', 2), promotedAt: promoted.position }, testOp());
      expect(rejoined).toMatchObject({ role: ReplicationRole.REPLICA, readOnly: true, fenced: false });
      await insert(r1, 170, 30);
      for (const r of [r2, src]) {
        await caughtUp(r, r1);
        expect(await rows(r)).toEqual(range(0, 200));
      }
      // A replica again: readable, not writable; its old slots are gone (they would hold WAL for ever).
      const c = await app(src);
      await expect(c.query("INSERT INTO items VALUES (20001, 'x')")).rejects.toThrow(/read-only transaction/);
      await c.end();
      expect(await admin(src, async (c2) => (await c2.query('SELECT count(*)::int AS n FROM pg_replication_slots')).rows[0].n)).toBe(0);
      expect((await status(r1)).replicas.map((x) => x.name)).toEqual(['old', 'r2']);
    });

    it('a former primary that wrote what the new primary never got is rewound (pg_rewind): its own writes are gone, it follows', async () => {
      // r1 is the primary, src follows it. Make src write on its own, as a primary cut off before a failover would.
      await admin(
        src,
        async (c) => {
          await c.query('SELECT pg_promote(true, 60)');
          await c.query("INSERT INTO items VALUES (99999, 'errant')");
        },
        'shop',
      );
      await insert(r1, 200, 5); // the new primary goes on meanwhile
      expect(await rows(src)).toContain(99999);
      const rejoined = await src.manager.replication.rejoin({ attach: attachTo(r1, 'old', 3), promotedAt: (await status(r1)).position }, testOp());
      expect(rejoined.role).toBe(ReplicationRole.REPLICA);
      await caughtUp(src, r1);
      expect(await rows(src)).toEqual(range(0, 205));
    });

    it('rejoin onto a server it shares no history with is DATA_LOSS; rebuilt from a backup of the primary it follows again', async () => {
      const stranger = await createPostgresqlInstance();
      extra.push(stranger);
      await stranger.manager.prepare(prepareRequest(), testOp());
      await stranger.manager.replication.configureSource(sourceRequest(1, ['old']), testOp());
      const err = await expectCode(src.manager.replication.rejoin({ attach: attachTo(stranger, 'old', 3), promotedAt: '' }, testOp()), 'DATA_LOSS');
      expect(err.message).toMatch(/rebuilt from a backup/);
      // Never writable on its own meanwhile: remembered as a fenced replica.
      expect(src.manager.replication.holdsWriteLease()).toBe(false);
      const seed = await backup(r1, 'seed-2');
      const st = await src.manager.replication.rebuild(prepareRequest({ restore: restoreOf(seed), replicaOf: attachTo(r1, 'old', 3) }), testOp());
      expect(st).toMatchObject({ role: ReplicationRole.REPLICA, readOnly: true, fenced: false });
      await caughtUp(src, r1);
      expect(await rows(src)).toEqual(range(0, 205));
    });

    it('synchronous (ANY 1): an acknowledged commit is on a replica; with no synchronous standby running, a commit waits for one', async () => {
      await r1.manager.replication.configureSource(sourceRequest(4, ['r2', 'old'], true), testOp());
      await r2.manager.replication.attach(attachTo(r1, 'r2', 4, true), testOp());
      await src.manager.replication.attach(attachTo(r1, 'old', 4, true), testOp());
      await waitFor('synchronous replication on', async () => (await status(r1)).synchronous, 30_000, 100);

      // The commit record starts after this transaction's last insert: once acknowledged, a replica has flushed past it.
      const c = await app(r1);
      await c.query('BEGIN');
      await c.query("INSERT INTO items VALUES (300, 'sync')");
      const { lsn } = (await c.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0];
      await c.query('COMMIT');
      const received = [await status(r2), await status(src)].map((s) => s.received);
      expect(received.some((r) => (compareLsn(r, lsn) ?? -1) > 0)).toBe(true);
      expect((await status(r2)).synchronous).toBe(true);

      // No synchronous standby runs: a commit waits (SyncRep), and completes once one is back.
      await Promise.all([r2.manager.stop(testOp()), src.manager.stop(testOp())]);
      let settled = false;
      const pending = c.query("INSERT INTO items VALUES (301, 'waits')").finally(() => {
        settled = true;
      });
      await waitFor(
        'the commit waiting for a synchronous standby',
        async () =>
          admin(
            r1,
            async (a) => (await a.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'app' AND wait_event = 'SyncRep'")).rows[0].n === 1,
          ),
        30_000,
        50,
      );
      expect(settled).toBe(false);
      await r2.manager.start(testOp());
      await pending;
      await c.end();
      await waitFor('the waited-for row on the replica', async () => (await rows(r2)).includes(301), 30_000);
      await src.manager.start(testOp());
    });

    it("a replica that applied WAL past its new primary's fork is rewound when re-pointed, then follows", async () => {
      await r1.manager.replication.configureSource(sourceRequest(5, ['r2', 'old']), testOp());
      // src stops listening (an operator's override of its source), r2 goes on receiving from r1.
      await admin(src, async (c) => {
        await c.query("ALTER SYSTEM SET primary_conninfo = ''");
        await c.query('SELECT pg_reload_conf()');
      });
      await waitFor('src to stop streaming', async () => !(await status(src)).connected, 30_000, 100);
      const before = await rows(src);
      await insert(r1, 400, 10);
      await caughtUp(r2, r1);
      expect(await rows(r2)).toContain(409);
      // src is promoted where it stopped: r2 has applied WAL of the old timeline beyond that fork.
      const promoted = await src.manager.replication.promote({ term: 6, source: sourceRequest(6, ['r2', 'r1']) }, testOp());
      const attached = await r2.manager.replication.attach(attachTo(src, 'r2', 6), testOp());
      expect(attached.role).toBe(ReplicationRole.REPLICA);
      await caughtUp(r2, src).catch(async (e) => {
        // What the replica saw, for a failure's message: its status, its WAL files and its server's log.
        const wal = await admin(r2, async (c) => (await c.query('SELECT name FROM pg_ls_waldir() ORDER BY 1')).rows);
        const { execSync } = await import('node:child_process');
        const log = execSync(`tail -n 60 ${r2.ctx.logDir}/postgresql/*.log`).toString();
        throw new Error(
          `${(e as Error).message}\nattached: ${JSON.stringify(attached)}\nnow: ${JSON.stringify(await status(r2))}\nwal: ${JSON.stringify(wal)}\n${log}`,
        );
      });
      expect(await rows(r2)).toEqual(before);
      // The old primary is rewound too; the set is whole again.
      await r1.manager.replication.rejoin({ attach: attachTo(src, 'r1', 6), promotedAt: promoted.position }, testOp());
      await insert(src, 500, 3);
      for (const r of [r1, r2]) {
        await caughtUp(r, src);
        expect(await rows(r)).toEqual([...before, 500, 501, 502]);
      }
    });
  });
}
