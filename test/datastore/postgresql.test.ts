// The postgresql manager against a real PostgreSQL started by the agent's own
// process backend. One prepared server serves most of the file; tests run in
// order and build on each other. Everything a user is given is checked the way
// the user would meet it: by connecting as that user over TCP.
import { readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus, type Database, type User } from '../../managers/sdk/types.js';
import { ADMIN_SECRET } from '../../managers/postgresql/paths.js';
import { scramVerifier } from '../../managers/postgresql/scram.js';
import { createPostgresqlInstance, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';
import { expectAllInvalid, expectCode, type Attempt } from '../fixtures/datastore-assertions.js';
import {
  cancelledAt,
  expectAdoption,
  expectCrashRecovery,
  expectDestroyed,
  expectNothingLeft,
  expectPreparedHealthy,
  expectRestarted,
  expectStopped,
  serverProcesses,
} from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { engineUnavailableReason } from '../fixtures/container-engine.js';
import { createPostgresqlContainer, type PostgresqlContainer } from '../fixtures/testcontainers-instances.js';

const db = (name: string, characterSet = '', collation = '', ctype = ''): Database => ({ name, characterSet, collation, ctype, replication: {} });
const user = (name: string, password: string, access: string[] = [], host = ''): User => ({
  name,
  host,
  password,
  access: access.map((database) => ({ database })),
  permissions: '',
});
const ref = (name: string) => ({ name, host: '' });

const reason = await postgresqlUnavailableReason();

if (reason) {
  describeUnavailable('postgresql manager (process backend)', 'needs a PostgreSQL server installed', 'postgresql datastore tests', reason);
} else {
  describe('postgresql manager (process backend)', () => {
    let inst: PostgresqlInstance;
    let spec: ServiceSpec;
    const prepareOp = testOp();

    /** A TCP session as `name`, the way a user of the instance connects. */
    async function tcp(name: string, password: string, database = 'postgres'): Promise<pg.Client> {
      const c = new pg.Client({ host: '127.0.0.1', port: inst.port, user: name, password, database, connectionTimeoutMillis: 5_000 });
      c.on('error', () => undefined); // a session ended by the server must not crash the test run
      await c.connect();
      return c;
    }

    /**
     * 'ok'; 'denied' (28P01: wrong password or no such role); 'rejected'
     * (28000: pg_hba.conf lets nobody in that way); 'no-connect' (42501: no
     * CONNECT privilege on the database); else the SQLSTATE or message.
     */
    async function connectAs(name: string, password: string, database = 'postgres'): Promise<string> {
      try {
        const c = await tcp(name, password, database);
        await c.end();
        return 'ok';
      } catch (err) {
        const code = (err as { code?: string }).code;
        return ({ '28P01': 'denied', '28000': 'rejected', '42501': 'no-connect' } as Record<string, string>)[code ?? ''] ?? code ?? String(err);
      }
    }

    /** The row an early test wrote is still there, whatever the server went through since. */
    async function expectNotesKept(): Promise<void> {
      const c = await tcp('alice', 'alice-pw-1', 'app');
      expect((await c.query('SELECT body FROM notes')).rows).toEqual([{ body: 'hello' }]);
      await c.end();
    }

    /** The SQLSTATE a statement run as `name` fails with, or 'ok'. */
    async function sqlAs(name: string, password: string, database: string, sql: string): Promise<string> {
      const c = await tcp(name, password, database);
      try {
        await c.query(sql);
        return 'ok';
      } catch (err) {
        return (err as { code?: string }).code ?? String(err);
      } finally {
        await c.end();
      }
    }

    /** A session as the agent's admin role through the unix socket, as the agent itself connects. */
    async function admin<T>(fn: (c: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
      const password = await inst.ctx.secrets.get(ADMIN_SECRET);
      const c = new pg.Client({ host: inst.ctx.runDir, port: inst.port, user: 'steward_admin', password, database });
      await c.connect();
      try {
        return await fn(c);
      } finally {
        await c.end();
      }
    }

    /** Everything a bad request could have changed: roles with their passwords and limits, databases with their grants. */
    async function snapshot(): Promise<unknown> {
      return admin(async (c) => ({
        roles: (await c.query('SELECT rolname, rolcanlogin, rolsuper, rolconnlimit, rolpassword FROM pg_authid ORDER BY rolname COLLATE "C"')).rows,
        databases: (await c.query('SELECT datname, datacl::text, encoding, datcollate, datctype FROM pg_database ORDER BY datname COLLATE "C"')).rows,
        appDefaults: await admin(
          async (a) => (await a.query('SELECT defaclrole::regrole::text, defaclacl::text FROM pg_default_acl ORDER BY 1, 2')).rows,
          'app',
        ),
      }));
    }

    beforeAll(async () => {
      inst = await createPostgresqlInstance({ memoryMb: 256 });
      spec = await inst.manager.serviceSpec();
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.NEW);
      await inst.manager.prepare(
        prepareRequest({
          databases: [db('app'), db('app_2'), db('lat', 'LATIN1', 'C')],
          users: [user('alice', 'alice-pw-1', ['app'], '%')],
        }),
        prepareOp,
      );
    });

    afterAll(async () => {
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('prepare reports its steps and leaves a healthy, secured server', async () => {
      const probe = await expectPreparedHealthy(inst, spec, prepareOp);
      expect(probe.version).toMatch(/^\d+\.\d+/);
      expect(spec.user).toBe('postgres');

      // Settings rendered from the context: memory split, port, socket, logs, password hashing.
      const settings = await admin(async (c) => {
        const names = [
          'shared_buffers',
          'effective_cache_size',
          'port',
          'listen_addresses',
          'unix_socket_directories',
          'log_directory',
          'password_encryption',
          'data_directory',
          'data_checksums',
        ];
        const rows = (await c.query('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)', [names])).rows as Array<{
          name: string;
          setting: string;
          unit: string | null;
        }>;
        return Object.fromEntries(rows.map((r) => [r.name, r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024}MB` : r.setting]));
      });
      expect(settings).toEqual({
        shared_buffers: '64MB',
        effective_cache_size: '192MB',
        port: String(inst.port),
        listen_addresses: '127.0.0.1',
        unix_socket_directories: inst.ctx.runDir,
        log_directory: join(inst.ctx.logDir, 'postgresql'),
        password_encryption: 'scram-sha-256',
        data_directory: inst.ctx.dataDir,
        data_checksums: 'on',
      });
      const logs = readdirSync(join(inst.ctx.logDir, 'postgresql'));
      expect(logs.some((f) => /^postgresql-\w+\.log$/.test(f))).toBe(true);

      // No trust anywhere; the admin role only through the socket; root shut out until enabled.
      const hba = await readFile(join(inst.ctx.configDir, 'pg_hba.conf'), 'utf8');
      expect(hba).not.toMatch(/\btrust\b/);
      expect((await stat(join(inst.ctx.configDir, 'pg_hba.conf'))).mode & 0o777).toBe(0o640);
      const adminPassword = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      expect(await connectAs('steward_admin', adminPassword)).toBe('rejected');
      expect(await connectAs('postgres', 'anything')).toBe('rejected');
      expect((await stat(join(inst.dir, 'secrets', ADMIN_SECRET))).mode & 0o777).toBe(0o600);
      const data = await stat(inst.ctx.dataDir);
      expect(data.mode & 0o777).toBe(0o700);
      expect(data.uid).not.toBe(0);

      const roles = await admin(
        async (c) =>
          (
            await c.query('SELECT rolname, rolsuper, rolpassword FROM pg_authid WHERE rolname IN ($1, $2, $3) ORDER BY 1', [
              'alice',
              'postgres',
              'steward_admin',
            ])
          ).rows,
      );
      expect(roles.map((r) => [r.rolname, r.rolsuper, r.rolpassword === null ? null : String(r.rolpassword).split('$')[0]])).toEqual([
        ['alice', false, 'SCRAM-SHA-256'],
        ['postgres', true, null],
        ['steward_admin', true, 'SCRAM-SHA-256'],
      ]);
      // The server's grants to PUBLIC on its own databases are gone: users reach only what they are granted.
      const publicConnect = await admin(
        async (c) =>
          (await c.query("SELECT datname FROM pg_database WHERE has_database_privilege('public', datname, 'CONNECT') AND datallowconn ORDER BY 1")).rows,
      );
      expect(publicConnect).toEqual([]);

      await expectCode(inst.manager.prepare(prepareRequest(), testOp()), 'FAILED_PRECONDITION');
    });

    it('computes SCRAM verifiers exactly as the server does', async () => {
      const stored = await admin(async (c) => {
        await c.query("CREATE ROLE scram_probe PASSWORD 'Pa55 w0rd''\"\\x'");
        try {
          return (await c.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'")).rows[0].rolpassword as string;
        } finally {
          await c.query('DROP ROLE scram_probe');
        }
      });
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
      expect(scramVerifier(`Pa55 w0rd'"\\x`, Buffer.from(m[2], 'base64'), Number(m[1]))).toBe(stored);
    });

    it('a prepared user reads and writes its database over TCP, and nothing else', async () => {
      const c = await tcp('alice', 'alice-pw-1', 'app');
      try {
        await c.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
        await c.query('INSERT INTO notes VALUES (1, $1)', ['hello']);
        expect((await c.query('SELECT body FROM notes WHERE id = 1')).rows).toEqual([{ body: 'hello' }]);
        await expect(c.query('CREATE DATABASE sneaky')).rejects.toMatchObject({ code: '42501' });
        await expect(c.query('SELECT * FROM pg_authid')).rejects.toMatchObject({ code: '42501' });
        await expect(c.query('CREATE ROLE sneaky')).rejects.toMatchObject({ code: '42501' });
      } finally {
        await c.end();
      }
      expect(await connectAs('alice', 'alice-pw-1', 'app_2')).toBe('no-connect');
      expect(await connectAs('alice', 'alice-pw-1', 'postgres')).toBe('no-connect');
      expect(await connectAs('alice', 'alice-pw-1', 'template1')).toBe('no-connect');
      expect(await connectAs('alice', 'wrong')).toBe('denied');
    });

    it('users: create, get, grant, share tables, revoke, change password, delete', async () => {
      const op = testOp();
      const users = inst.manager.users;
      await users.create([user('bob', 'bob-pw-1')], op);
      expect(await connectAs('bob', 'bob-pw-1', 'app_2')).toBe('no-connect');

      await users.grant(ref('bob'), ['app_2'], op);
      const bob = await tcp('bob', 'bob-pw-1', 'app_2');
      await bob.query('CREATE TABLE early (x int)');
      await bob.query('INSERT INTO early VALUES (1)');
      expect(await users.listAccess(ref('bob'), op)).toEqual([{ database: 'app_2' }]);
      expect(await users.get(ref('bob'), op)).toEqual({ name: 'bob', host: '', password: '', access: [{ database: 'app_2' }], permissions: '' });

      // Both users of app_2 use each other's tables: those made before the grant and after it.
      await users.grant(ref('alice'), ['app_2'], op);
      await bob.query('CREATE TABLE later (x serial, y int)');
      await bob.query('INSERT INTO later (y) VALUES (2)');
      const alice = await tcp('alice', 'alice-pw-1', 'app_2');
      expect((await alice.query('SELECT x FROM early')).rows).toEqual([{ x: 1 }]);
      await alice.query('INSERT INTO later (y) VALUES (3)'); // the sequence too
      await alice.query('CREATE TABLE by_alice (z int)');
      await alice.end();
      expect((await bob.query('SELECT count(*)::int AS n FROM later')).rows).toEqual([{ n: 2 }]);
      await bob.query('INSERT INTO by_alice VALUES (4)');

      // A user that owns tables is not dropped with them: refused, naming what blocks, and left working.
      const refused = await expectCode(users.delete(ref('bob'), op), 'FAILED_PRECONDITION');
      expect(refused.message).toContain("database 'app_2'");
      expect(refused.message).toContain('table early');
      expect(await connectAs('bob', 'bob-pw-1', 'app_2')).toBe('ok');
      await bob.query('DROP TABLE early, later');
      await bob.end();

      // Revoking cuts the user off at once, open sessions included.
      const open = await tcp('bob', 'bob-pw-1', 'app_2');
      await users.revoke(ref('bob'), ['app_2'], op);
      await expect(open.query('SELECT 1')).rejects.toThrow();
      expect(await connectAs('bob', 'bob-pw-1', 'app_2')).toBe('no-connect');
      expect(await users.listAccess(ref('bob'), op)).toEqual([]);
      await users.revoke(ref('bob'), ['app_2'], op); // again: a no-op, so retries succeed
      expect(await sqlAs('alice', 'alice-pw-1', 'app_2', 'SELECT * FROM by_alice')).toBe('ok');

      await users.changePassword(ref('bob'), `n3w'pw"\\x`, op);
      expect(await connectAs('bob', 'bob-pw-1')).toBe('denied');
      await users.grant(ref('bob'), ['app'], op);
      expect(await connectAs('bob', `n3w'pw"\\x`, 'app')).toBe('ok');

      await users.delete(ref('bob'), op);
      expect(await connectAs('bob', `n3w'pw"\\x`, 'app')).toBe('denied');
      await expectCode(users.get(ref('bob'), op), 'NOT_FOUND');
      await expectCode(users.delete(ref('bob'), op), 'NOT_FOUND');
      await expectCode(users.changePassword(ref('bob'), 'x-pw', op), 'NOT_FOUND');
      await expectCode(users.grant(ref('alice'), ['nope'], op), 'NOT_FOUND');
      await expectCode(users.create([user('alice', 'pw')], op), 'ALREADY_EXISTS');
      // Nothing of bob is left anywhere: no role, no grants, no default privileges.
      const left = await admin(
        async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_shdepend WHERE refobjid = (SELECT oid FROM pg_roles WHERE rolname = 'bob')")).rows[0].n,
      );
      expect(left).toBe(0);
      expect(JSON.stringify(await snapshot())).not.toContain('bob');
      await users.revoke(ref('alice'), ['app_2'], op);
    });

    it('a request that fails part-way leaves nothing behind', async () => {
      const op = testOp();
      const before = await snapshot();
      // The second user's database is checked before anything is created.
      await expectCode(inst.manager.users.create([user('carol', 'carol-pw', ['app']), user('dave', 'dave-pw', ['missing'])], op), 'NOT_FOUND');
      await expectCode(inst.manager.databases.create([db('ok1'), db('app')], op), 'ALREADY_EXISTS');
      expect(await snapshot()).toEqual(before);
    });

    it('lists users in pages, in byte order, without reserved roles', async () => {
      const op = testOp();
      const made = ['Zed', 'u_1', 'u-2', 'U3', '_u4'];
      await inst.manager.users.create(
        made.map((n) => user(n, 'pw-list')),
        op,
      );
      // Roles the API does not manage: a group role and a reserved-looking one made behind its back.
      await admin(async (c) => {
        await c.query('CREATE ROLE some_group NOLOGIN');
        await c.query('CREATE ROLE "PG_sneaky" LOGIN');
      });
      const seen: string[] = [];
      let marker = '';
      let pages = 0;
      do {
        const page = await inst.manager.users.list({ limit: 2, marker }, op);
        seen.push(...page.users.map((u) => u.name));
        expect(page.users.every((u) => u.host === '' && u.password === '')).toBe(true);
        marker = page.nextMarker;
        pages++;
      } while (marker);
      expect(seen).toEqual(['U3', 'Zed', '_u4', 'alice', 'u-2', 'u_1']);
      expect(pages).toBe(3);
      const all = await inst.manager.users.list({ limit: 0, marker: '' }, op);
      expect(all.users.find((u) => u.name === 'alice')?.access).toEqual([{ database: 'app' }]);
      expect(all.nextMarker).toBe('');
      await expectCode(inst.manager.users.list({ limit: 5000, marker: '' }, op), 'INVALID_ARGUMENT', 'page.limit');
      await expectCode(inst.manager.users.list({ limit: 1, marker: 'a\0b' }, op), 'INVALID_ARGUMENT', 'page.marker');
      for (const n of made) await inst.manager.users.delete(ref(n), op);
      await admin(async (c) => {
        await c.query('DROP ROLE some_group');
        await c.query('DROP ROLE "PG_sneaky"');
      });
    });

    it('databases: encoding and locales checked against the server, pages, grants die with the database', async () => {
      const op = testOp();
      const dbs = inst.manager.databases;
      const before = await snapshot();
      await expectCode(dbs.create([db('shop', 'nope')], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      await expectCode(dbs.create([db('shop', 'SJIS')], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      await expectCode(dbs.create([db('shop', '', 'xx_YY.UTF-8')], op), 'INVALID_ARGUMENT', 'databases[0].collation');
      await expectCode(dbs.create([db('shop', '', '', 'nope')], op), 'INVALID_ARGUMENT', 'databases[0].ctype');
      await expectCode(dbs.create([db('shop', 'LATIN1', 'C.UTF-8')], op), 'INVALID_ARGUMENT', 'databases[0].collation');
      await expectCode(dbs.create([db('shop', 'LATIN1', 'C', 'C.UTF-8')], op), 'INVALID_ARGUMENT', 'databases[0].ctype');
      await expectCode(dbs.create([db('shop', 'LATIN1')], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      await expectCode(dbs.create([db('ok1'), db('shop', 'EUC_JP', 'C.UTF-8')], op), 'INVALID_ARGUMENT', 'databases[1].collation');
      expect(await snapshot()).toEqual(before);

      await dbs.create([db('shop', 'LATIN1', 'C'), db('Shop'), db('shop-2$', 'UTF8', 'C', 'C.UTF-8'), db('sqlascii', 'SQL_ASCII', 'POSIX')], op);
      const catalog = await admin(
        async (c) =>
          (
            await c.query(
              `SELECT datname, pg_encoding_to_char(encoding) AS enc, datcollate, datctype, datacl::text AS acl
             FROM pg_database WHERE datname IN ('shop', 'Shop', 'shop-2$', 'sqlascii') ORDER BY datname COLLATE "C"`,
            )
          ).rows,
      );
      expect(catalog.map((r) => [r.datname, r.enc, r.datcollate, r.datctype])).toEqual([
        ['Shop', 'UTF8', 'C.UTF-8', 'C.UTF-8'],
        ['shop', 'LATIN1', 'C', 'C'],
        ['shop-2$', 'UTF8', 'C', 'C.utf8'],
        ['sqlascii', 'SQL_ASCII', 'C', 'C'], // the server stores the C library's own name for POSIX
      ]);
      // Nothing for PUBLIC: only the owner (the agent) holds privileges on a new database.
      for (const r of catalog) expect(r.acl).toBe('{steward_admin=CTc/steward_admin}');

      const listed = [];
      let marker = '';
      do {
        const page = await dbs.list({ limit: 2, marker }, op);
        listed.push(...page.databases);
        marker = page.nextMarker;
      } while (marker);
      expect(listed.map((d) => d.name)).toEqual(['Shop', 'app', 'app_2', 'lat', 'shop', 'shop-2$', 'sqlascii']);
      expect(listed.find((d) => d.name === 'shop')).toEqual({ name: 'shop', characterSet: 'LATIN1', collation: 'C', ctype: 'C', replication: {} });
      expect(listed.find((d) => d.name === 'lat')).toEqual({ name: 'lat', characterSet: 'LATIN1', collation: 'C', ctype: 'C', replication: {} });

      // A dropped database takes its grants along: a new one of the same name starts closed.
      await inst.manager.users.grant(ref('alice'), ['shop'], op);
      expect(await connectAs('alice', 'alice-pw-1', 'shop')).toBe('ok');
      await dbs.delete('shop', op);
      await expectCode(dbs.delete('shop', op), 'NOT_FOUND');
      expect(await inst.manager.users.listAccess(ref('alice'), op)).toEqual([{ database: 'app' }]);
      await dbs.create([db('shop')], op);
      expect(await connectAs('alice', 'alice-pw-1', 'shop')).toBe('no-connect');
      for (const name of ['shop', 'Shop', 'shop-2$', 'sqlascii']) await dbs.delete(name, op);
    });

    it('refuses to drop a database in use unless forced, then ends its sessions', async () => {
      const op = testOp();
      const dbs = inst.manager.databases;
      await dbs.create([db('busy')], op);
      await inst.manager.users.grant(ref('alice'), ['busy'], op);
      const c1 = await tcp('alice', 'alice-pw-1', 'busy');
      const c2 = await tcp('alice', 'alice-pw-1', 'busy');
      await c1.query('CREATE TABLE t (x int)');

      const err = await expectCode(dbs.delete('busy', op), 'FAILED_PRECONDITION');
      expect(err.message).toContain("'busy' has 2 live connections");
      expect((await dbs.list({ limit: 0, marker: '' }, op)).databases.map((d) => d.name)).toContain('busy');
      expect((await c1.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);

      await dbs.delete('busy', op, { force: true });
      await expect(c1.query('SELECT 1')).rejects.toThrow();
      await expect(c2.query('SELECT 1')).rejects.toThrow();
      await c1.end().catch(() => undefined);
      await c2.end().catch(() => undefined);
      expect((await dbs.list({ limit: 0, marker: '' }, op)).databases.map((d) => d.name)).not.toContain('busy');
      expect(await inst.manager.users.listAccess(ref('alice'), op)).toEqual([{ database: 'app' }]);
    });

    it('root: enable, use over TCP, reset, disable', async () => {
      const op = testOp();
      const root = inst.manager.root;
      expect(await root.status(op)).toEqual({ enabled: false, user: 'postgres' });
      const first = await root.enable(op);
      expect(first.user).toBe('postgres');
      expect(first.password.length).toBeGreaterThanOrEqual(20);
      // Straight after enable: the new pg_hba.conf is already in force.
      const c = await tcp('postgres', first.password);
      await c.query('CREATE DATABASE rootmade');
      await c.query("CREATE ROLE viaroot LOGIN PASSWORD 'x'");
      await c.query('DROP ROLE viaroot');
      await c.query('DROP DATABASE rootmade');
      await c.end();
      expect(await root.status(op)).toEqual({ enabled: true, user: 'postgres' });

      const second = await root.enable(op);
      expect(second.password).not.toBe(first.password);
      expect(await connectAs('postgres', first.password)).toBe('denied');
      const held = await tcp('postgres', second.password);

      await root.disable(op);
      expect(await connectAs('postgres', second.password)).toBe('rejected');
      await expect(held.query('SELECT 1')).rejects.toThrow();
      await held.end().catch(() => undefined);
      expect(await root.status(op)).toEqual({ enabled: false, user: 'postgres' });
      const hba = await readFile(join(inst.ctx.configDir, 'pg_hba.conf'), 'utf8');
      expect(hba).toMatch(/^host\s+all\s+postgres\s+all\s+reject$/m);
      // The agent is never locked out by root's state.
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
    });

    it('refuses hostile input with INVALID_ARGUMENT and changes nothing', async () => {
      const op = testOp();
      const { users, databases } = inst.agent; // as the agent calls it: the operations table checks first
      const badNames = [
        "x'; DROP DATABASE app; --",
        'a"b',
        '"; DROP ROLE alice; --',
        "a'b",
        'a b',
        'a;b',
        'a\\b',
        'a.b',
        'a\0b',
        'a\nb',
        '1abc',
        '$abc',
        '-abc',
        'ålice',
        'ユーザー',
        '𝓊𝓈𝑒𝓇',
        'x'.repeat(64),
        '',
        ' alice',
        'alice ',
      ];
      const reserved = [
        'postgres',
        'Postgres',
        'POSTGRES',
        'template0',
        'template1',
        'steward_admin',
        'public',
        'PUBLIC',
        'none',
        'all',
        'current_user',
        'session_user',
        'replication',
        'pg_signal_backend',
        'pg_monitor',
        'pg_x',
        'PG_x',
      ];
      const badHosts = ['10.0.0.%', 'localhost', "%' OR '1'='1", '0.0.0.0/0', 'h\0'];
      const badPasswords = ['', 'p\0w', 'x'.repeat(129), 'pässword', 'tab\there', 'line\nbreak'];

      const before = await snapshot();
      const attempts: Attempt[] = [];
      for (const n of [...badNames, ...reserved]) {
        const r = ref(n);
        const s = JSON.stringify(n);
        attempts.push(
          [`create user ${s}`, () => users.create([user(n, 'pw-ok')], op)],
          [`get ${s}`, () => users.get(r, op)],
          [`delete ${s}`, () => users.delete(r, op)],
          [`change password ${s}`, () => users.changePassword(r, 'pw-ok', op)],
          [`grant ${s}`, () => users.grant(r, ['app'], op)],
          [`revoke ${s}`, () => users.revoke(r, ['app'], op)],
          [`list access ${s}`, () => users.listAccess(r, op)],
          [`create db ${s}`, () => databases.create([db(n)], op)],
          [`delete db ${s}`, () => databases.delete(n, op)],
          [`force delete db ${s}`, () => databases.delete(n, op, { force: true })],
          [`grant db ${s}`, () => users.grant(ref('alice'), [n], op)],
          [`revoke db ${s}`, () => users.revoke(ref('alice'), [n], op)],
          [`user with access to ${s}`, () => users.create([user('eve', 'pw-ok', [n])], op)],
        );
      }
      for (const h of badHosts) {
        attempts.push(
          [`create at host ${JSON.stringify(h)}`, () => users.create([user('eve', 'pw-ok', [], h)], op)],
          [`delete at host ${JSON.stringify(h)}`, () => users.delete({ name: 'alice', host: h }, op)],
          [`grant at host ${JSON.stringify(h)}`, () => users.grant({ name: 'alice', host: h }, ['app'], op)],
        );
      }
      for (const p of badPasswords) {
        attempts.push(
          ['create with bad password', () => users.create([user('eve', p)], op)],
          ['change to bad password', () => users.changePassword(ref('alice'), p, op)],
        );
      }
      const injections = ["UTF8' TEMPLATE template1 --", 'UTF8; DROP DATABASE app', "C' LC_CTYPE 'C", 'C.UTF-8\nx', "en_US'||'", 'ü'];
      for (const inj of injections) {
        attempts.push(
          [`encoding ${JSON.stringify(inj)}`, () => databases.create([db('eve', inj)], op)],
          [`collation ${JSON.stringify(inj)}`, () => databases.create([db('eve', '', inj)], op)],
          [`ctype ${JSON.stringify(inj)}`, () => databases.create([db('eve', '', '', inj)], op)],
        );
      }
      attempts.push(
        ['a good user then a bad one', () => users.create([user('eve', 'pw-ok'), user("x'--", 'pw-ok')], op)],
        ['a good database then a bad one', () => databases.create([db('eve'), db('postgres')], op)],
        ['duplicate users in one request', () => users.create([user('eve', 'pw-ok'), user('eve', 'pw-ok')], op)],
        ['duplicate databases in one request', () => databases.create([db('eve'), db('eve')], op)],
        ['empty grant list', () => users.grant(ref('alice'), [], op)],
        ['permissions string', () => users.create([{ ...user('eve', 'pw-ok'), permissions: 'read-only' }], op)],
        ['replication factors', () => databases.create([{ ...db('eve'), replication: { dc1: 3 } }], op)],
      );

      await expectAllInvalid(attempts, ['pw-ok']);
      expect(attempts.length).toBeGreaterThan(450);
      expect(await snapshot()).toEqual(before);
      expect(await connectAs('alice', 'alice-pw-1', 'app')).toBe('ok');

      // Markers are only compared, never spliced into SQL.
      const page = await users.list({ limit: 10, marker: "' OR '1'='1" }, op);
      expect(page.users.map((u) => u.name)).toEqual(['alice']);
      const dbPage = await databases.list({ limit: 10, marker: "x' OR '1'='1" }, op);
      expect(dbPage.databases).toEqual([]);
    });

    it('probe follows the server: RUNNING when wedged, SHUTDOWN after stop, HEALTHY after start and restart', async () => {
      const op = testOp();
      const pid = (await inst.ctx.service.pid(spec))!;
      process.kill(pid, 'SIGSTOP'); // alive, but answers nobody
      try {
        const wedged = await inst.manager.probe();
        expect(wedged.status).toBe(DatastoreStatus.RUNNING);
        expect(wedged.facts.error).toBeTruthy();
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);

      await inst.manager.stop(op);
      await expectStopped(inst, spec);
      await inst.manager.start(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      await expectRestarted(inst, spec);
      await expectNotesKept();
    });

    it('a new process backend adopts the running server through its pid file', async () => {
      await expectAdoption(inst, spec, async (manager) => {
        expect((await manager.users!.get(ref('alice'), testOp())).access).toEqual([{ database: 'app' }]);
      });
    });

    it('restarts a server that died behind its back, and reports CRASHED meanwhile', async () => {
      await expectCrashRecovery(inst, spec, 90_000);
      await expectNotesKept();
    });

    it('destroy stops the server for good', async () => {
      await expectDestroyed(inst, spec);
    });
  });

  describe('postgresql prepare after a failed attempt', () => {
    let inst: PostgresqlInstance;
    beforeAll(async () => {
      inst = await createPostgresqlInstance({ memoryMb: 128 });
    });
    afterAll(async () => {
      await inst?.teardown();
    });

    const req = prepareRequest({ databases: [db('retry_db')], users: [user('retrier', 'retry-pw', ['retry_db'])] });

    /** A prepare cancelled when it reports the step starting with `step` leaves nothing behind. */
    async function cancelPrepareAt(step: string): Promise<void> {
      await expectCode(inst.manager.prepare(req, cancelledAt(step)), 'CANCELLED');
      await expectNothingLeft(inst);
    }

    it('is cancelled by its signal at any step, leaves nothing running, and a retry succeeds', async () => {
      // After initdb has started (a half-made data directory), then with the server running.
      await cancelPrepareAt('creating the admin role');
      expect(readdirSync(inst.ctx.dataDir)).toContain('PG_VERSION');
      await cancelPrepareAt('securing');

      await inst.manager.prepare(req, testOp());
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const c = new pg.Client({ host: '127.0.0.1', port: inst.port, user: 'retrier', password: 'retry-pw', database: 'retry_db' });
      await c.connect();
      await c.query('CREATE TABLE t (x int)');
      await c.end();
    });
  });
}

const engineReason = await engineUnavailableReason();

if (engineReason) {
  describeUnavailable('postgresql manager on PostgreSQL 15 (testcontainers)', 'needs a container engine', 'postgresql Testcontainers tests', engineReason);
} else {
  // The same manager on a server in a container (test/fixtures/testcontainers-datastore.ts):
  // the image's entrypoint has prepared it; users, databases, root and the
  // lifecycle go through the manager, the checks through TCP from outside.
  describe('postgresql manager on PostgreSQL 15 (testcontainers)', () => {
    let inst: PostgresqlContainer;

    async function tcp(name: string, password: string, database = 'postgres'): Promise<pg.Client> {
      const c = new pg.Client({ host: '127.0.0.1', port: inst.port, user: name, password, database, connectionTimeoutMillis: 5_000 });
      c.on('error', () => undefined);
      await c.connect();
      return c;
    }

    /** As in the process suite: 'ok', 'denied' (28P01), 'rejected' (28000), 'no-connect' (42501), else the SQLSTATE. */
    async function connectAs(name: string, password: string, database = 'postgres'): Promise<string> {
      try {
        await (await tcp(name, password, database)).end();
        return 'ok';
      } catch (err) {
        const code = (err as { code?: string }).code;
        return ({ '28P01': 'denied', '28000': 'rejected', '42501': 'no-connect' } as Record<string, string>)[code ?? ''] ?? code ?? String(err);
      }
    }

    async function snapshot(): Promise<unknown> {
      const password = await inst.ctx.secrets.get(ADMIN_SECRET);
      const c = new pg.Client({ host: inst.ctx.runDir, port: inst.port, user: 'steward_admin', password, database: 'postgres' });
      await c.connect();
      try {
        return {
          roles: (await c.query('SELECT rolname, rolcanlogin, rolsuper, rolpassword FROM pg_authid ORDER BY rolname COLLATE "C"')).rows,
          databases: (await c.query('SELECT datname, datacl::text, encoding, datcollate FROM pg_database ORDER BY datname COLLATE "C"')).rows,
        };
      } finally {
        await c.end();
      }
    }

    beforeAll(async () => {
      inst = await createPostgresqlContainer();
    });

    afterAll(async () => {
      await inst?.teardown();
    });

    it('the server in the container is secured as prepare leaves it, and the manager probes it HEALTHY', async () => {
      const probe = await inst.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.HEALTHY);
      expect(probe.version).toMatch(/^15\./);
      expect(await connectAs('steward_admin', (await inst.ctx.secrets.get(ADMIN_SECRET))!)).toBe('rejected');
      expect(await connectAs('postgres', '')).not.toBe('ok');
    });

    it('users and databases: create, grant, revoke, change password, delete, seen over TCP', async () => {
      const op = testOp();
      const { users, databases } = inst.manager;
      await databases.create([db('app'), db('app_2'), db('lat', 'LATIN1', 'C')], op);
      await users.create([user('alice', 'alice-pw-1', ['app'])], op);
      const alice = await tcp('alice', 'alice-pw-1', 'app');
      await alice.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await alice.query('INSERT INTO notes VALUES (1, $1)', ['hello']);
      await alice.end();
      expect(await connectAs('alice', 'alice-pw-1', 'app_2')).toBe('no-connect');

      await users.create([user('bob', 'bob-pw-1')], op);
      await users.grant(ref('bob'), ['app_2'], op);
      const bob = await tcp('bob', 'bob-pw-1', 'app_2');
      await bob.query('CREATE TABLE t (x int)');
      await bob.query('DROP TABLE t'); // a role that owns objects is not dropped (the process suite covers that)
      await bob.end();
      expect(await users.listAccess(ref('bob'), op)).toEqual([{ database: 'app_2' }]);
      await users.revoke(ref('bob'), ['app_2'], op);
      expect(await connectAs('bob', 'bob-pw-1', 'app_2')).toBe('no-connect');
      await users.changePassword(ref('bob'), `n3w'pw"\\x`, op);
      expect(await connectAs('bob', 'bob-pw-1')).toBe('denied');
      expect(await connectAs('bob', `n3w'pw"\\x`)).toBe('ok');
      expect((await users.list({ limit: 0, marker: '' }, op)).users.map((u) => u.name)).toEqual(['alice', 'bob']);
      await users.delete(ref('bob'), op);
      await expectCode(users.get(ref('bob'), op), 'NOT_FOUND');
      await expectCode(users.create([user('alice', 'x')], op), 'ALREADY_EXISTS');

      await expectCode(databases.create([db('shop', 'nope')], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      await expectCode(databases.create([db('shop', 'LATIN1', 'C.UTF-8')], op), 'INVALID_ARGUMENT', 'databases[0].collation');
      const listed = (await databases.list({ limit: 0, marker: '' }, op)).databases;
      expect(listed.map((d) => d.name)).toEqual(['app', 'app_2', 'lat']);
      expect(listed.find((d) => d.name === 'lat')).toMatchObject({ characterSet: 'LATIN1', collation: 'C' });
      await databases.delete('app_2', op);
      await expectCode(databases.delete('app_2', op), 'NOT_FOUND');
    });

    it('root: enable, use over TCP, reset, disable (pg_hba.conf rewritten by the manager, read by the server in the container)', async () => {
      const op = testOp();
      const root = inst.manager.root;
      expect(await root.status(op)).toEqual({ enabled: false, user: 'postgres' });
      const first = await root.enable(op);
      const c = await tcp('postgres', first.password);
      await c.query('CREATE DATABASE rootmade');
      await c.query('DROP DATABASE rootmade');
      await c.end();
      const second = await root.enable(op);
      expect(await connectAs('postgres', first.password)).toBe('denied');
      expect(await connectAs('postgres', second.password)).toBe('ok');
      await root.disable(op);
      expect(await connectAs('postgres', second.password)).toBe('rejected');
      expect(await root.status(op)).toEqual({ enabled: false, user: 'postgres' });
    });

    it('refuses hostile input with INVALID_ARGUMENT and changes nothing', async () => {
      const op = testOp();
      const { users, databases } = inst.agent;
      const badNames = [
        "x'; DROP DATABASE app; --",
        'a"b',
        '"; DROP ROLE alice; --',
        'a b',
        'a\0b',
        'ålice',
        'x'.repeat(64),
        '',
        'postgres',
        'steward_admin',
        'pg_monitor',
      ];
      const badDbs = ["x'; DROP DATABASE app; --", 'a"b', 'template0', 'template1', 'postgres', 'a\nb', 'x'.repeat(64)];
      const before = await snapshot();
      const attempts: Attempt[] = [];
      for (const n of badNames) {
        attempts.push(
          [`create user ${JSON.stringify(n)}`, () => users.create([user(n, 'pw-ok')], op)],
          [`delete ${JSON.stringify(n)}`, () => users.delete(ref(n), op)],
          [`grant ${JSON.stringify(n)}`, () => users.grant(ref(n), ['app'], op)],
        );
      }
      for (const d of badDbs) {
        attempts.push(
          [`create db ${JSON.stringify(d)}`, () => databases.create([db(d)], op)],
          [`delete db ${JSON.stringify(d)}`, () => databases.delete(d, op)],
          [`grant db ${JSON.stringify(d)}`, () => users.grant(ref('alice'), [d], op)],
        );
      }
      for (const inj of ["UTF8' TEMPLATE template1 --", 'UTF8; DROP DATABASE app', "C' LC_CTYPE 'C"]) {
        attempts.push(
          [`encoding ${JSON.stringify(inj)}`, () => databases.create([db('eve', inj)], op)],
          [`collation ${JSON.stringify(inj)}`, () => databases.create([db('eve', '', inj)], op)],
        );
      }
      await expectAllInvalid(attempts, ['pw-ok']);
      expect(await snapshot()).toEqual(before);
      expect(await connectAs('alice', 'alice-pw-1', 'app')).toBe('ok');
    });

    it('stop, start and restart act on the container; what was written is kept', async () => {
      const op = testOp();
      await inst.manager.stop(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.SHUTDOWN);
      await inst.manager.start(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      await inst.manager.restart(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const c = await tcp('alice', 'alice-pw-1', 'app');
      expect((await c.query('SELECT body FROM notes')).rows).toEqual([{ body: 'hello' }]);
      await c.end();
    });
  });
}
