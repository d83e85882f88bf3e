// The mysql manager against a real MariaDB started by the agent's own process
// backend. One prepared server serves most of the file (start-ups are the slow
// part on a 2-core machine); tests run in order and build on each other.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus, type Database, type User } from '../../managers/sdk/types.js';
import { flavourFromVersion } from '../../managers/mysql/flavour.js';
import { ADMIN_SECRET, mysqlPaths } from '../../managers/mysql/paths.js';
import { createDatabases, listDatabases } from '../../managers/mysql/databases.js';
import { createUsers, grantAccess, listAccess, listUsers, revokeAccess } from '../../managers/mysql/users.js';
import { enableRoot, rootStatus } from '../../managers/mysql/root.js';
import { createMysqlInstance, mysqlUnavailableReason, testOp, type MysqlInstance } from '../fixtures/mysql-instance.js';
import { mysql8UnavailableReason, startMysqlContainer } from '../fixtures/testcontainers-mysql.js';
import { engineUnavailableReason } from '../fixtures/container-engine.js';
import { createMariadbContainer, type MariadbContainer } from '../fixtures/testcontainers-instances.js';
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

const db = (name: string, characterSet = '', collation = ''): Database => ({ name, characterSet, collation, ctype: '', replication: {} });
const user = (name: string, password: string, access: string[] = [], host = '%'): User => ({
  name,
  host,
  password,
  access: access.map((database) => ({ database })),
  permissions: '',
});

const reason = await mysqlUnavailableReason();

if (reason) {
  describeUnavailable('mysql manager on MariaDB (process backend)', 'needs a MariaDB or MySQL server installed', 'mysql datastore tests', reason);
} else {
  describe('mysql manager on MariaDB (process backend)', () => {
    let inst: MysqlInstance;
    let spec: ServiceSpec;
    const prepareOp = testOp();

    const tcp = (name: string, password: string, database?: string): Promise<Connection> =>
      mysql.createConnection({ host: '127.0.0.1', port: inst.port, user: name, password, database, connectTimeout: 5_000 });

    /** 'ok', 'denied' (bad credentials: MariaDB answers 1045 or 1698), or the driver's error code. */
    async function connectAs(name: string, password: string, database?: string): Promise<string> {
      try {
        const c = await tcp(name, password, database);
        await c.end();
        return 'ok';
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err);
        return code.startsWith('ER_ACCESS_DENIED') ? 'denied' : code;
      }
    }

    /** The row the first test wrote is still there, whatever the server went through since. */
    async function expectNotesKept(): Promise<void> {
      const c = await tcp('alice', 'alice-pw-1', 'app');
      const [rows] = await c.query<RowDataPacket[]>('SELECT body FROM notes');
      expect(rows).toEqual([{ body: 'hello' }]);
      await c.end();
    }

    /** Everything a bad request could have changed, read over the admin socket. */
    async function snapshot(): Promise<unknown> {
      const password = await inst.ctx.secrets.get(ADMIN_SECRET);
      const c = await mysql.createConnection({ socketPath: mysqlPaths(inst.ctx).socket, user: 'steward_admin', password });
      try {
        const [users] = await c.query<RowDataPacket[]>('SELECT User, Host, authentication_string FROM mysql.user ORDER BY User, Host');
        const [dbs] = await c.query<RowDataPacket[]>('SHOW DATABASES');
        const [grants] = await c.query<RowDataPacket[]>('SELECT User, Host, Db FROM mysql.db ORDER BY User, Host, Db');
        return { users, dbs, grants };
      } finally {
        await c.end();
      }
    }

    beforeAll(async () => {
      inst = await createMysqlInstance({ memoryMb: 256 });
      spec = await inst.manager.serviceSpec();
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.NEW);
      await inst.manager.prepare(
        prepareRequest({
          databases: [db('app'), db('app_2', 'latin1', 'latin1_swedish_ci'), db('appx2')],
          users: [user('alice', 'alice-pw-1', ['app'])],
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
      expect(probe.version).toMatch(/MariaDB/);

      const snap = (await snapshot()) as { users: Array<{ User: string; Host: string }>; dbs: Array<{ Database: string }> };
      expect(snap.users.filter((u) => u.User === '')).toEqual([]);
      expect(snap.users.filter((u) => u.User === 'root').map((u) => u.Host)).toEqual(['localhost']);
      expect(snap.users.filter((u) => u.User === 'steward_admin').map((u) => u.Host)).toEqual(['localhost']);
      expect(snap.dbs.map((d) => d.Database)).not.toContain('test');
      // The admin account is not reachable over the network.
      expect(await connectAs('steward_admin', (await inst.ctx.secrets.get(ADMIN_SECRET))!)).toBe('denied');

      const secretMode = (await stat(join(inst.dir, 'secrets', ADMIN_SECRET))).mode & 0o777;
      expect(secretMode).toBe(0o600);
      await expectCode(inst.manager.prepare(prepareRequest(), testOp()), 'FAILED_PRECONDITION');
    });

    it('a prepared user reads and writes its database over TCP, and nothing else', async () => {
      const c = await tcp('alice', 'alice-pw-1', 'app');
      try {
        await c.query('CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(100))');
        await c.query('INSERT INTO notes VALUES (1, ?)', ['hello']);
        const [rows] = await c.query<RowDataPacket[]>('SELECT body FROM notes WHERE id = 1');
        expect(rows[0].body).toBe('hello');
        await expect(c.query('USE app_2')).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });
        await expect(c.query('SELECT * FROM mysql.user')).rejects.toMatchObject({ code: 'ER_TABLEACCESS_DENIED_ERROR' });
        await expect(c.query('CREATE DATABASE sneaky')).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });
      } finally {
        await c.end();
      }
      expect(await connectAs('alice', 'wrong')).toBe('denied');
    });

    it('users: create, get, grant, revoke, change password, delete', async () => {
      const op = testOp();
      const users = inst.manager.users;
      await users.create([user('bob', 'bob-pw-1')], op);
      expect(await connectAs('bob', 'bob-pw-1')).toBe('ok');
      expect(await connectAs('bob', 'bob-pw-1', 'app_2')).toBe('ER_DBACCESS_DENIED_ERROR');

      await users.grant({ name: 'bob', host: '%' }, ['app_2'], op);
      const c = await tcp('bob', 'bob-pw-1', 'app_2');
      await c.query('CREATE TABLE t (x INT)');
      await c.query('INSERT INTO t VALUES (42)');
      const [rows] = await c.query<RowDataPacket[]>('SELECT x FROM t');
      expect(rows).toEqual([{ x: 42 }]);
      await c.end();
      // "_" is a wildcard in GRANT: the grant on app_2 must not cover appx2.
      expect(await connectAs('bob', 'bob-pw-1', 'appx2')).toBe('ER_DBACCESS_DENIED_ERROR');
      expect(await users.listAccess({ name: 'bob', host: '%' }, op)).toEqual([{ database: 'app_2' }]);
      expect(await users.get({ name: 'bob', host: '' }, op)).toEqual({
        name: 'bob',
        host: '%',
        password: '',
        access: [{ database: 'app_2' }],
        permissions: '',
      });

      await users.revoke({ name: 'bob', host: '%' }, ['app_2'], op);
      expect(await connectAs('bob', 'bob-pw-1', 'app_2')).toBe('ER_DBACCESS_DENIED_ERROR');
      expect(await users.listAccess({ name: 'bob', host: '%' }, op)).toEqual([]);
      await users.revoke({ name: 'bob', host: '%' }, ['app_2'], op); // again: a no-op, so retries succeed

      await users.changePassword({ name: 'bob', host: '%' }, `n3w'pw"\\x`, op);
      expect(await connectAs('bob', 'bob-pw-1')).toBe('denied');
      expect(await connectAs('bob', `n3w'pw"\\x`)).toBe('ok');

      await users.delete({ name: 'bob', host: '%' }, op);
      expect(await connectAs('bob', `n3w'pw"\\x`)).toBe('denied');
      await expectCode(users.get({ name: 'bob', host: '%' }, op), 'NOT_FOUND');
      await expectCode(users.delete({ name: 'bob', host: '%' }, op), 'NOT_FOUND');
    });

    it('host patterns decide where a user may connect from', async () => {
      const op = testOp();
      await inst.manager.users.create([user('carol', 'carol-pw', ['app'], '127.0.0.1'), user('dave', 'dave-pw', ['app'], '10.9.9.%')], op);
      expect(await connectAs('carol', 'carol-pw', 'app')).toBe('ok');
      expect(await connectAs('dave', 'dave-pw', 'app')).toBe('denied');
      expect((await inst.manager.users.get({ name: 'dave', host: '10.9.9.%' }, op)).access).toEqual([{ database: 'app' }]);
      await expectCode(inst.manager.users.get({ name: 'dave', host: '%' }, op), 'NOT_FOUND');
      await inst.manager.users.delete({ name: 'carol', host: '127.0.0.1' }, op);
      await inst.manager.users.delete({ name: 'dave', host: '10.9.9.%' }, op);
    });

    it('refuses duplicates and references to missing things, all or nothing', async () => {
      const op = testOp();
      const users = inst.manager.users;
      await expectCode(users.create([user('alice', 'x')], op), 'ALREADY_EXISTS');
      await expectCode(users.create([user('newbie', 'x'), user('alice', 'x')], op), 'ALREADY_EXISTS');
      await expectCode(users.get({ name: 'newbie', host: '%' }, op), 'NOT_FOUND');
      await expectCode(users.create([user('newbie', 'x', ['nosuchdb'])], op), 'NOT_FOUND');
      await expectCode(users.get({ name: 'newbie', host: '%' }, op), 'NOT_FOUND');
      await expectCode(users.grant({ name: 'nobody', host: '%' }, ['app'], op), 'NOT_FOUND');
      await expectCode(users.grant({ name: 'alice', host: '%' }, ['nosuchdb'], op), 'NOT_FOUND');
      await expectCode(users.changePassword({ name: 'nobody', host: '%' }, 'pw', op), 'NOT_FOUND');
      await expectCode(users.listAccess({ name: 'nobody', host: '%' }, op), 'NOT_FOUND');
      await expectCode(inst.manager.databases.create([db('app')], op), 'ALREADY_EXISTS');
      await expectCode(inst.manager.databases.delete('nosuchdb', op), 'NOT_FOUND');
    });

    it('lists users in sorted pages without system accounts', async () => {
      const op = testOp();
      const made = ['u05', 'u01', 'u03', 'u02', 'u04'].map((n) => user(n, `${n}-pw`));
      made.push(user('u03', 'u03-pw', [], 'localhost'));
      await inst.manager.users.create(made, op);

      const seen: string[] = [];
      let marker = '';
      let pages = 0;
      do {
        const page = await inst.manager.users.list({ limit: 2, marker }, op);
        expect(page.users.length).toBeLessThanOrEqual(2);
        for (const u of page.users) {
          expect(u.password).toBe('');
          seen.push(`${u.name}@${u.host}`);
        }
        marker = page.nextMarker;
        pages += 1;
      } while (marker && pages < 20);
      expect(seen).toEqual(['alice@%', 'u01@%', 'u02@%', 'u03@%', 'u03@localhost', 'u04@%', 'u05@%']);
      const all = await inst.manager.users.list({ limit: 0, marker: '' }, op);
      expect(all.nextMarker).toBe('');
      expect(all.users.find((u) => u.name === 'alice')?.access).toEqual([{ database: 'app' }]);
      await expectCode(inst.manager.users.list({ limit: 5000, marker: '' }, op), 'INVALID_ARGUMENT', 'page.limit');
      for (const u of made) await inst.manager.users.delete(u, op);
    });

    it('databases: server-checked character set and collation, pages, delete', async () => {
      const op = testOp();
      const dbs = inst.manager.databases;
      const before = await snapshot();
      await expectCode(dbs.create([db('shop', 'nope')], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      await expectCode(dbs.create([db('shop', '', 'nope_ci')], op), 'INVALID_ARGUMENT', 'databases[0].collation');
      await expectCode(dbs.create([db('ok1'), db('shop', 'utf8mb4', 'latin1_bin')], op), 'INVALID_ARGUMENT', 'databases[1].collation');
      expect(await snapshot()).toEqual(before);

      await dbs.create([db('shop', 'latin1', 'latin1_bin'), db('Shop'), db('shop-2$')], op);
      const listed = [];
      let marker = '';
      do {
        const page = await dbs.list({ limit: 2, marker }, op);
        listed.push(...page.databases);
        marker = page.nextMarker;
      } while (marker);
      expect(listed.map((d) => d.name)).toEqual(['Shop', 'app', 'app_2', 'appx2', 'shop', 'shop-2$']);
      expect(listed.find((d) => d.name === 'shop')).toEqual({ name: 'shop', characterSet: 'latin1', collation: 'latin1_bin', ctype: '', replication: {} });
      expect(listed.find((d) => d.name === 'app_2')?.characterSet).toBe('latin1');

      // A dropped database takes its grants along: a new one of the same name starts clean.
      await inst.manager.users.grant({ name: 'alice', host: '%' }, ['shop'], op);
      expect(await connectAs('alice', 'alice-pw-1', 'shop')).toBe('ok');
      await dbs.delete('shop', op);
      await expectCode(dbs.delete('shop', op), 'NOT_FOUND');
      expect(await inst.manager.users.listAccess({ name: 'alice', host: '%' }, op)).toEqual([{ database: 'app' }]);
      await dbs.create([db('shop')], op);
      expect(await connectAs('alice', 'alice-pw-1', 'shop')).toBe('ER_DBACCESS_DENIED_ERROR');
      for (const name of ['shop', 'Shop', 'shop-2$']) await dbs.delete(name, op);
    });

    it('root: enable, use over TCP, reset, disable', async () => {
      const op = testOp();
      const root = inst.manager.root;
      expect(await root.status(op)).toEqual({ enabled: false, user: 'root' });
      const first = await root.enable(op);
      expect(first.user).toBe('root');
      expect(first.password.length).toBeGreaterThanOrEqual(20);
      const c = await tcp('root', first.password);
      await c.query('CREATE DATABASE rootmade');
      await c.query("CREATE USER 'viaroot'@'%' IDENTIFIED BY 'x'"); // GRANT OPTION and global privileges
      await c.query("DROP USER 'viaroot'@'%'");
      await c.query('DROP DATABASE rootmade');
      await c.end();
      expect(await root.status(op)).toEqual({ enabled: true, user: 'root' });

      const second = await root.enable(op);
      expect(second.password).not.toBe(first.password);
      expect(await connectAs('root', first.password)).toBe('denied');
      expect(await connectAs('root', second.password)).toBe('ok');

      await root.disable(op);
      expect(await connectAs('root', second.password)).toBe('denied');
      expect(await root.status(op)).toEqual({ enabled: false, user: 'root' });
      // root@localhost (the server's own, unix socket only) survives.
      const snap = (await snapshot()) as { users: Array<{ User: string; Host: string }> };
      expect(snap.users.filter((u) => u.User === 'root').map((u) => u.Host)).toEqual(['localhost']);
    });

    it('refuses hostile input with INVALID_ARGUMENT and changes nothing', async () => {
      const op = testOp();
      const { users, databases } = inst.agent; // as the agent calls it: the operations table checks first
      const badNames = [
        "x'; DROP DATABASE mysql; --",
        'a`b',
        '`; DROP DATABASE app; --',
        'a"b',
        "a'b",
        '%',
        'a%',
        '_%',
        'a\0b',
        'a\nb',
        'ålice',
        'ユーザー',
        '𝓊𝓈𝑒𝓇',
        'x'.repeat(33),
        '',
        ' alice',
        'alice ',
      ];
      const reservedUsers = ['root', 'ROOT', 'steward_admin', 'mysql', 'mariadb.sys', 'mysql.sys', 'debian-sys-maint'];
      const badDbs = [
        ...badNames.filter((n) => n !== 'x'.repeat(33)),
        'x'.repeat(65),
        'a.b',
        '../etc',
        'mysql',
        'MYSQL',
        'information_schema',
        'performance_schema',
        'sys',
        'lost+found',
      ];
      const badHosts = ["%' OR '1'='1", 'a b', 'h\0', 'hôte', '10.0.0.0/24', "localhost'--"];
      const badPasswords = ['', 'p\0w', 'x'.repeat(129), 'pässword', 'tab\there'];

      const before = await snapshot();
      const attempts: Attempt[] = [];
      for (const n of [...badNames, ...reservedUsers]) {
        const ref = { name: n, host: '%' };
        attempts.push(
          [`create user ${JSON.stringify(n)}`, () => users.create([user(n, 'pw-ok')], op)],
          [`get ${JSON.stringify(n)}`, () => users.get(ref, op)],
          [`delete ${JSON.stringify(n)}`, () => users.delete(ref, op)],
          [`change password ${JSON.stringify(n)}`, () => users.changePassword(ref, 'pw-ok', op)],
          [`grant ${JSON.stringify(n)}`, () => users.grant(ref, ['app'], op)],
          [`revoke ${JSON.stringify(n)}`, () => users.revoke(ref, ['app'], op)],
          [`list access ${JSON.stringify(n)}`, () => users.listAccess(ref, op)],
        );
      }
      for (const d of badDbs) {
        attempts.push(
          [`create db ${JSON.stringify(d)}`, () => databases.create([db(d)], op)],
          [`delete db ${JSON.stringify(d)}`, () => databases.delete(d, op)],
          [`grant db ${JSON.stringify(d)}`, () => users.grant({ name: 'alice', host: '%' }, [d], op)],
          [`revoke db ${JSON.stringify(d)}`, () => users.revoke({ name: 'alice', host: '%' }, [d], op)],
          [`user with access to ${JSON.stringify(d)}`, () => users.create([user('eve', 'pw-ok', [d])], op)],
        );
      }
      for (const h of badHosts) {
        attempts.push(
          [`create at host ${JSON.stringify(h)}`, () => users.create([user('eve', 'pw-ok', [], h)], op)],
          [`delete at host ${JSON.stringify(h)}`, () => users.delete({ name: 'alice', host: h }, op)],
        );
      }
      for (const p of badPasswords) {
        attempts.push(
          [`create with bad password`, () => users.create([user('eve', p)], op)],
          [`change to bad password`, () => users.changePassword({ name: 'alice', host: '%' }, p, op)],
        );
      }
      attempts.push(
        ['charset injection', () => databases.create([db('eve', "utf8mb4' OR 1=1")], op)],
        ['collation injection', () => databases.create([db('eve', 'utf8mb4', 'utf8mb4_bin; DROP DATABASE app')], op)],
        ['a good user then a bad one', () => users.create([user('eve', 'pw-ok'), user("x'--", 'pw-ok')], op)],
        ['a good database then a bad one', () => databases.create([db('eve'), db('mysql')], op)],
        ['duplicate users in one request', () => users.create([user('eve', 'pw-ok'), user('eve', 'pw-ok')], op)],
        ['empty grant list', () => users.grant({ name: 'alice', host: '%' }, [], op)],
      );

      await expectAllInvalid(attempts, ['pw-ok']);
      expect(attempts.length).toBeGreaterThan(200);
      expect(await snapshot()).toEqual(before);
      expect(await connectAs('alice', 'alice-pw-1', 'app')).toBe('ok');

      // Markers are only compared, never spliced into SQL.
      const page = await users.list({ limit: 10, marker: "' OR '1'='1" }, op);
      expect(page.users.map((u) => u.name)).toEqual(['alice']);
    });

    it('probe follows the server: SHUTDOWN after stop, HEALTHY after start and restart', async () => {
      const op = testOp();
      await inst.manager.stop(op);
      await expectStopped(inst, spec);
      await inst.manager.start(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      await expectRestarted(inst, spec);
      await expectNotesKept();
    });

    it('a new process backend adopts the running server through its pid file', async () => {
      await expectAdoption(inst, spec);
    });

    it('restarts a server that died behind its back, and reports CRASHED meanwhile', async () => {
      await expectCrashRecovery(inst, spec, 90_000);
      await expectNotesKept();
    });

    it('destroy stops the server for good', async () => {
      await expectDestroyed(inst, spec);
    });
  });

  describe('mysql prepare after a failed attempt', () => {
    let inst: MysqlInstance;
    beforeAll(async () => {
      inst = await createMysqlInstance({ memoryMb: 128 });
    });
    afterAll(async () => {
      await inst?.teardown();
    });

    it('is cancelled by its signal, leaves nothing running, and a retry succeeds', async () => {
      const req = prepareRequest({ databases: [db('retry_db')], users: [user('retrier', 'retry-pw', ['retry_db'])] });
      // Cancel once the server runs, i.e. with an initialised data directory and a live process.
      await expectCode(inst.manager.prepare(req, cancelledAt('securing')), 'CANCELLED');
      await expectNothingLeft(inst);

      await inst.manager.prepare(req, testOp());
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const c = await mysql.createConnection({ host: '127.0.0.1', port: inst.port, user: 'retrier', password: 'retry-pw', database: 'retry_db' });
      await c.query('CREATE TABLE t (x INT)');
      await c.end();
    });
  });
}

const engineReason = await engineUnavailableReason();

if (engineReason) {
  describeUnavailable('mysql manager on MariaDB 10.11 (testcontainers)', 'needs a container engine', 'mysql Testcontainers tests', engineReason);
} else {
  // The same manager on a server in a container (test/fixtures/testcontainers-datastore.ts):
  // the image's entrypoint has prepared it; users, databases, root and the
  // lifecycle go through the manager, the checks through TCP from outside.
  describe('mysql manager on MariaDB 10.11 (testcontainers)', () => {
    let inst: MariadbContainer;

    const tcp = (name: string, password: string, database?: string): Promise<Connection> =>
      mysql.createConnection({ host: '127.0.0.1', port: inst.port, user: name, password, database, connectTimeout: 5_000 });

    async function connectAs(name: string, password: string, database?: string): Promise<string> {
      try {
        await (await tcp(name, password, database)).end();
        return 'ok';
      } catch (err) {
        const code = (err as { code?: string }).code ?? String(err);
        return code.startsWith('ER_ACCESS_DENIED') ? 'denied' : code;
      }
    }

    async function snapshot(): Promise<{ users: Array<{ User: string; Host: string }>; dbs: Array<{ Database: string }> }> {
      const password = await inst.ctx.secrets.get(ADMIN_SECRET);
      const c = await mysql.createConnection({ socketPath: mysqlPaths(inst.ctx).socket, user: 'steward_admin', password });
      try {
        const [users] = await c.query<RowDataPacket[]>('SELECT User, Host FROM mysql.user ORDER BY User, Host');
        const [dbs] = await c.query<RowDataPacket[]>('SHOW DATABASES');
        return { users: users as Array<{ User: string; Host: string }>, dbs: dbs as Array<{ Database: string }> };
      } finally {
        await c.end();
      }
    }

    beforeAll(async () => {
      inst = await createMariadbContainer();
    });

    afterAll(async () => {
      await inst?.teardown();
    });

    it('the server in the container is secured as prepare leaves it, and the manager probes it HEALTHY', async () => {
      const probe = await inst.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.HEALTHY);
      expect(probe.version).toMatch(/^10\.11\..*MariaDB/);
      expect(probe.facts.pid).toMatch(/^\d+$/);
      const snap = await snapshot();
      expect(snap.users.filter((u) => u.User === '')).toEqual([]);
      expect(snap.users.filter((u) => u.User === 'root').map((u) => u.Host)).toEqual(['localhost']);
      expect(snap.users.filter((u) => u.User === 'steward_admin').map((u) => u.Host)).toEqual(['localhost']);
      expect(snap.dbs.map((d) => d.Database)).not.toContain('test');
      // Not over TCP: with no account yet for any host but localhost, the server refuses the host itself.
      expect(await connectAs('steward_admin', (await inst.ctx.secrets.get(ADMIN_SECRET))!)).toBe('ER_HOST_NOT_PRIVILEGED');
    });

    it('users and databases: create, grant, revoke, change password, delete, seen over TCP', async () => {
      const op = testOp();
      const { users, databases } = inst.manager;
      await databases.create([db('app'), db('app_2', 'latin1', 'latin1_swedish_ci'), db('appx2')], op);
      await users.create([user('alice', 'alice-pw-1', ['app'])], op);
      const c = await tcp('alice', 'alice-pw-1', 'app');
      await c.query('CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(100))');
      await c.query('INSERT INTO notes VALUES (1, ?)', ['hello']);
      await expect(c.query('USE app_2')).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });
      await c.end();

      await users.grant({ name: 'alice', host: '%' }, ['app_2'], op);
      expect(await connectAs('alice', 'alice-pw-1', 'app_2')).toBe('ok');
      // "_" is a wildcard in GRANT: the grant on app_2 must not cover appx2.
      expect(await connectAs('alice', 'alice-pw-1', 'appx2')).toBe('ER_DBACCESS_DENIED_ERROR');
      expect(await users.listAccess({ name: 'alice', host: '%' }, op)).toEqual([{ database: 'app' }, { database: 'app_2' }]);
      await users.revoke({ name: 'alice', host: '%' }, ['app_2'], op);
      expect(await connectAs('alice', 'alice-pw-1', 'app_2')).toBe('ER_DBACCESS_DENIED_ERROR');

      await users.create([user('bob', 'bob-pw-1', [], '127.0.0.1'), user('dave', 'dave-pw', ['app'], '10.9.9.%')], op);
      expect(await connectAs('bob', 'bob-pw-1')).toBe('ok');
      expect(await connectAs('dave', 'dave-pw', 'app')).toBe('denied');
      await users.changePassword({ name: 'bob', host: '127.0.0.1' }, `n3w'pw"\\x`, op);
      expect(await connectAs('bob', 'bob-pw-1')).toBe('denied');
      expect(await connectAs('bob', `n3w'pw"\\x`)).toBe('ok');
      expect((await users.list({ limit: 0, marker: '' }, op)).users.map((u) => `${u.name}@${u.host}`)).toEqual(['alice@%', 'bob@127.0.0.1', 'dave@10.9.9.%']);
      await users.delete({ name: 'bob', host: '127.0.0.1' }, op);
      await users.delete({ name: 'dave', host: '10.9.9.%' }, op);
      await expectCode(users.get({ name: 'bob', host: '127.0.0.1' }, op), 'NOT_FOUND');
      await expectCode(users.create([user('alice', 'x')], op), 'ALREADY_EXISTS');

      await expectCode(databases.create([db('shop', 'nope')], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      await expectCode(databases.create([db('ok1'), db('shop', 'utf8mb4', 'latin1_bin')], op), 'INVALID_ARGUMENT', 'databases[1].collation');
      const listed = (await databases.list({ limit: 0, marker: '' }, op)).databases;
      expect(listed.map((d) => d.name)).toEqual(['app', 'app_2', 'appx2']);
      expect(listed.find((d) => d.name === 'app_2')).toEqual({
        name: 'app_2',
        characterSet: 'latin1',
        collation: 'latin1_swedish_ci',
        ctype: '',
        replication: {},
      });
      await databases.delete('appx2', op);
      await expectCode(databases.delete('appx2', op), 'NOT_FOUND');
    });

    it('root: enable, use over TCP, reset, disable', async () => {
      const op = testOp();
      const root = inst.manager.root;
      expect(await root.status(op)).toEqual({ enabled: false, user: 'root' });
      const first = await root.enable(op);
      const c = await tcp('root', first.password);
      await c.query('CREATE DATABASE rootmade');
      await c.query('DROP DATABASE rootmade');
      await c.end();
      const second = await root.enable(op);
      expect(await connectAs('root', first.password)).toBe('denied');
      expect(await connectAs('root', second.password)).toBe('ok');
      await root.disable(op);
      expect(await connectAs('root', second.password)).toBe('denied');
      expect((await snapshot()).users.filter((u) => u.User === 'root').map((u) => u.Host)).toEqual(['localhost']);
    });

    it('refuses hostile input with INVALID_ARGUMENT and changes nothing', async () => {
      const op = testOp();
      const { users, databases } = inst.agent;
      const badNames = ["x'; DROP DATABASE mysql; --", 'a`b', 'a"b', '%', 'a\0b', 'a\nb', 'ålice', 'x'.repeat(33), '', ' alice'];
      const badDbs = ["x'; DROP DATABASE mysql; --", 'a`b', 'a.b', '../etc', 'mysql', 'information_schema', 'x'.repeat(65)];
      const before = await snapshot();
      const attempts: Attempt[] = [];
      for (const n of [...badNames, 'root', 'steward_admin']) {
        attempts.push(
          [`create user ${JSON.stringify(n)}`, () => users.create([user(n, 'pw-ok')], op)],
          [`delete ${JSON.stringify(n)}`, () => users.delete({ name: n, host: '%' }, op)],
          [`grant ${JSON.stringify(n)}`, () => users.grant({ name: n, host: '%' }, ['app'], op)],
        );
      }
      for (const d of badDbs) {
        attempts.push(
          [`create db ${JSON.stringify(d)}`, () => databases.create([db(d)], op)],
          [`delete db ${JSON.stringify(d)}`, () => databases.delete(d, op)],
          [`grant db ${JSON.stringify(d)}`, () => users.grant({ name: 'alice', host: '%' }, [d], op)],
        );
      }
      attempts.push(
        ['host injection', () => users.create([user('eve', 'pw-ok', [], "%' OR '1'='1")], op)],
        ['password with NUL', () => users.changePassword({ name: 'alice', host: '%' }, 'p\0w', op)],
        ['charset injection', () => databases.create([db('eve', "utf8mb4' OR 1=1")], op)],
        ['collation injection', () => databases.create([db('eve', 'utf8mb4', 'utf8mb4_bin; DROP DATABASE app')], op)],
      );
      await expectAllInvalid(attempts, ['pw-ok']);
      expect(await snapshot()).toEqual(before);
      expect(await connectAs('alice', 'alice-pw-1', 'app')).toBe('ok');
    });

    it('stop, start and restart act on the container; what was written is kept', async () => {
      const op = testOp();
      await inst.manager.stop(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.SHUTDOWN);
      expect(await connectAs('alice', 'alice-pw-1', 'app')).not.toBe('ok');
      await inst.manager.start(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      await inst.manager.restart(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const c = await tcp('alice', 'alice-pw-1', 'app');
      const [rows] = await c.query<RowDataPacket[]>('SELECT body FROM notes');
      expect(rows).toEqual([{ body: 'hello' }]);
      await c.end();
    });
  });
}

const mysql8Reason = await mysql8UnavailableReason();

describe('mysql manager SQL on MySQL 8 (testcontainers)', () => {
  it.runIf(!!mysql8Reason)('needs a MySQL 8 image', (t) => {
    console.warn(`\n*** SKIPPED: MySQL 8 container tests: ${mysql8Reason} ***\n`);
    t.skip(mysql8Reason);
  });

  it.runIf(!mysql8Reason)('users, grants, databases and root work on MySQL 8', async () => {
    const server = await startMysqlContainer();
    const open = (u: string, p: string, database?: string) => mysql.createConnection({ host: server.host, port: server.port, user: u, password: p, database });
    const admin = await open('root', server.rootPassword);
    try {
      const [[{ v }]] = await admin.query<RowDataPacket[]>('SELECT VERSION() AS v');
      expect(flavourFromVersion(v)).toBe('mysql');
      await createDatabases(admin, [db('app'), db('app_2', 'utf8mb4', 'utf8mb4_0900_ai_ci'), db('appx2')]);
      expect((await listDatabases(admin, { limit: 0, marker: '' })).databases.map((d) => d.name)).toEqual(['app', 'app_2', 'appx2']);
      await createUsers(admin, [user('alice', 'alice-pw', ['app'])]);
      await grantAccess(admin, { name: 'alice', host: '%' }, ['app_2']);
      expect(await listAccess(admin, { name: 'alice', host: '%' })).toEqual([{ database: 'app' }, { database: 'app_2' }]);
      const alice = await open('alice', 'alice-pw', 'app_2');
      await alice.query('CREATE TABLE t (x INT)');
      await expect(alice.query('USE appx2')).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });
      await alice.end();
      await revokeAccess(admin, { name: 'alice', host: '%' }, ['app_2']);
      expect((await listUsers(admin, { limit: 0, marker: '' })).users.map((u) => u.name)).toEqual(['alice']);
      expect((await rootStatus(admin)).enabled).toBe(true); // the image creates root@'%'
      const { password } = await enableRoot(admin);
      const root = await open('root', password);
      await root.end();
    } finally {
      await admin.end().catch(() => undefined);
      await server.stop();
    }
  });
});
