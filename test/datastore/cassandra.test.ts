// The cassandra manager against a real Apache Cassandra 5.0 node (from its
// Maven artifact, scripts/fetch-cassandra.sh) started by the agent's own
// process backend. One prepared node serves the file (JVM start-ups are the
// slow part on a 2-core machine); tests run in order and build on each other.
// What a role may do is checked by logging in as it with cassandra-driver.
// The file's one restart is a memory resize (1024 MB to 2048 MB): every test
// after it expects the new size's memory-derived settings.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, errors as cqlErrors } from 'cassandra-driver';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StewardError, asStewardError, type ErrorCode } from '../../managers/sdk/errors.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { ProcessServiceControl } from '../../managers/sdk/service-process.js';
import { DatastoreStatus, type Database, type User } from '../../managers/sdk/types.js';
import { ADMIN_PASSWORD_SECRET, cassandraPaths } from '../../managers/cassandra/paths.js';
import { cassandraUnavailableReason, createCassandraNode, testOp, type CassandraNode } from '../fixtures/cassandra-instance.js';
import { serverProcesses, until } from '../fixtures/datastore-lifecycle.js';
import { failure } from '../fixtures/datastore-assertions.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { cassandraParameters, liveValue } from '../../managers/cassandra/parameters.js';
import { loadSettings } from '../../managers/cassandra/config.js';

const ks = (name: string, replication: Record<string, number> = {}): Database => ({ name, characterSet: '', collation: '', ctype: '', replication });
const role = (name: string, password: string, access: string[] = []): User => ({
  name,
  host: '',
  password,
  access: access.map((database) => ({ database })),
  permissions: '',
});

async function expectCode(p: Promise<unknown>, code: ErrorCode, field?: string): Promise<StewardError> {
  const err = await failure(p);
  expect(err.code, err.message).toBe(code);
  if (field) expect(err.field).toBe(field);
  return err;
}

/** Cassandra 5 allows one password change per role every 5 s: retry once past that. */
async function pastPasswordRateLimit<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (asStewardError(err).code !== 'FAILED_PRECONDITION' || !/try again/.test((err as Error).message)) throw err;
    await sleep(5_500);
    return fn();
  }
}

const reason = await cassandraUnavailableReason();

if (reason) {
  describe('cassandra manager on one node (process backend)', () => {
    it('needs Java 17 and the Cassandra jars', (t) => {
      console.warn(`\n*** SKIPPED: cassandra datastore tests cannot run here: ${reason} ***\n`);
      t.skip(reason);
    });
  });
} else {
  describe('cassandra manager on one node (process backend)', () => {
    let node: CassandraNode;
    let spec: ServiceSpec;
    const prepareOp = testOp();
    const clients: Client[] = [];

    async function login(user: string, password: string): Promise<Client> {
      const c = new Client({
        contactPoints: [`${node.address}:${node.port}`],
        localDataCenter: 'dc1',
        credentials: { username: user, password },
        isMetadataSyncEnabled: false,
        socketOptions: { connectTimeout: 5_000 },
      });
      await c.connect();
      clients.push(c);
      return c;
    }

    /** 'ok', 'denied' (refused credentials), or another error's name. */
    async function connectAs(user: string, password: string): Promise<string> {
      const c = new Client({
        contactPoints: [`${node.address}:${node.port}`],
        localDataCenter: 'dc1',
        credentials: { username: user, password },
        isMetadataSyncEnabled: false,
      });
      try {
        await c.connect();
        return 'ok';
      } catch (err) {
        const inner = Object.values((err as { innerErrors?: object }).innerErrors ?? {});
        return inner.some((e) => e instanceof cqlErrors.AuthenticationError) ? 'denied' : (err as Error).name;
      } finally {
        await c.shutdown();
      }
    }

    /** 'ok', 'unauthorized' (0x2100) or the server's error code in hex. */
    async function attempt(c: Client, cql: string): Promise<string> {
      try {
        await c.execute(cql);
        return 'ok';
      } catch (err) {
        const code = (err as { code?: number }).code;
        return code === 0x2100 ? 'unauthorized' : `0x${(code ?? 0).toString(16)}: ${(err as Error).message}`;
      }
    }

    const adminPassword = async () => (await node.ctx.secrets.get(ADMIN_PASSWORD_SECRET))!;

    /** Everything a bad request could have changed, read as the admin role. */
    async function snapshot(): Promise<unknown> {
      const c = await login('steward_admin', await adminPassword());
      try {
        const roles = (await c.execute('SELECT role, can_login, is_superuser, salted_hash FROM system_auth.roles')).rows.map((r) => JSON.stringify(r)).sort();
        const perms = (await c.execute('SELECT role, resource, permissions FROM system_auth.role_permissions')).rows.map((r) => JSON.stringify(r)).sort();
        const keyspaces = (await c.execute('SELECT keyspace_name, replication FROM system_schema.keyspaces')).rows.map((r) => JSON.stringify(r)).sort();
        return { roles, perms, keyspaces };
      } finally {
        await c.shutdown();
      }
    }

    beforeAll(async () => {
      node = await createCassandraNode({ address: '127.0.0.10', name: 'single' });
      expect((await node.manager.probe()).status).toBe(DatastoreStatus.NEW);
    });

    afterAll(async () => {
      for (const c of clients) await c.shutdown().catch(() => undefined);
      await node?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('a cancelled prepare leaves nothing running; the retry starts over and succeeds', async () => {
      const req = {
        memoryMb: 0,
        port: 0,
        bindAddress: '',
        cluster: undefined,
        restore: undefined,
        replicaOf: undefined,
        configuration: {},
        databases: [ks('app'), ks('App'), ks('other', { dc1: 1 })],
        users: [role('alice', "al'ice-pw", ['app'])],
      };
      const abort = new AbortController();
      const first = testOp(abort.signal);
      const progress = first.progress;
      // Cancel once the JVM has been started.
      first.progress = (p, m) => {
        progress(p, m);
        if (m === 'waiting for CQL') abort.abort();
      };
      await expectCode(node.manager.prepare(req, first), 'CANCELLED');
      spec = await node.manager.serviceSpec();
      expect(await node.manager.isPrepared()).toBe(false);
      expect((await node.manager.probe()).status).toBe(DatastoreStatus.NEW);
      expect(await node.ctx.service.state(spec)).toBe('stopped');
      expect(serverProcesses(spec)).toEqual([]);

      await node.manager.prepare(req, prepareOp);
    });

    it('prepare reports its steps and leaves a healthy node secured and running as the cassandra user', async () => {
      const percents = prepareOp.steps.map((s) => s.percent);
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      expect(percents.at(-1)).toBe(100);
      expect(await node.manager.isPrepared()).toBe(true);

      const probe = await node.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.HEALTHY);
      expect(probe.version).toMatch(/^5\.0\./);
      expect(probe.facts).toMatchObject({ data_center: 'dc1', rack: 'rack1', node_state: 'normal', ring_members: '1', bootstrapped: 'COMPLETED' });
      expect(probe.facts.pid).toBe(String(await node.ctx.service.pid(spec)));
      if (process.getuid?.() === 0) {
        const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${probe.facts.pid}/status`, 'utf8'))?.[1];
        expect(uid).not.toBe('0');
      }

      // The default superuser is off; the admin role works; its password is 0600.
      expect(await connectAs('cassandra', 'cassandra')).toBe('denied');
      expect(await connectAs('steward_admin', await adminPassword())).toBe('ok');
      expect((await stat(join(node.dir, 'secrets', ADMIN_PASSWORD_SECRET))).mode & 0o777).toBe(0o600);

      const yaml = await readFile(cassandraPaths(node.ctx).yaml, 'utf8');
      expect(yaml).toContain('authenticator: PasswordAuthenticator');
      expect(yaml).toContain('endpoint_snitch: GossipingPropertyFileSnitch');
      expect(yaml).toContain(`listen_address: ${node.address}`);
      expect(yaml).toContain(`native_transport_port: ${node.port}`);
      await expectCode(
        node.manager.prepare(
          { memoryMb: 0, port: 0, bindAddress: '', databases: [], users: [], cluster: undefined, restore: undefined, replicaOf: undefined, configuration: {} },
          testOp(),
        ),
        'FAILED_PRECONDITION',
      );
    });

    it('a prepared role reads and writes its keyspace, and nothing else', async () => {
      const alice = await login('alice', "al'ice-pw");
      await alice.execute('CREATE TABLE app.notes (id int PRIMARY KEY, body text)');
      await alice.execute('INSERT INTO app.notes (id, body) VALUES (?, ?)', [1, 'hello'], { prepare: true });
      expect((await alice.execute('SELECT body FROM app.notes WHERE id = 1')).rows[0].body).toBe('hello');
      // "App" is another keyspace (names are case-sensitive): no access there.
      expect(await attempt(alice, 'CREATE TABLE "App".t (id int PRIMARY KEY)')).toBe('unauthorized');
      expect(await attempt(alice, 'CREATE TABLE other.t (id int PRIMARY KEY)')).toBe('unauthorized');
      expect(await attempt(alice, "CREATE KEYSPACE sneaky WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}")).toBe('unauthorized');
      expect(await attempt(alice, "CREATE ROLE sneaky WITH PASSWORD = 'x' AND LOGIN = true")).toBe('unauthorized');
      expect(await attempt(alice, 'SELECT * FROM system_auth.roles')).toBe('unauthorized');
      expect(await attempt(alice, 'ALTER ROLE alice WITH SUPERUSER = true')).toBe('unauthorized');
      expect(await connectAs('alice', 'wrong')).toBe('denied');
    });

    it('users: create, get, grant, revoke, change password, delete', async () => {
      const op = testOp();
      const users = node.manager.users;
      await users.create([role('bob', 'bob-pw-1')], op);
      expect(await users.get({ name: 'bob', host: '' }, op)).toEqual({ name: 'bob', host: '', password: '', access: [], permissions: '' });
      const bob = await login('bob', 'bob-pw-1');
      expect(await attempt(bob, 'CREATE TABLE other.t (id int PRIMARY KEY)')).toBe('unauthorized');

      await users.grant({ name: 'bob', host: '' }, ['other'], op);
      // Permissions are cached by the server for up to 2 s.
      await until(
        'the grant to take effect',
        () => attempt(bob, 'CREATE TABLE IF NOT EXISTS other.t (id int PRIMARY KEY)'),
        (r) => r === 'ok',
      );
      await bob.execute('INSERT INTO other.t (id) VALUES (42)');
      expect((await bob.execute('SELECT id FROM other.t')).rows.map((r) => r.id)).toEqual([42]);
      expect(await users.listAccess({ name: 'bob', host: '%' }, op)).toEqual([{ database: 'other' }]);

      await users.revoke({ name: 'bob', host: '' }, ['other'], op);
      await until(
        'the revoke to take effect',
        () => attempt(bob, 'SELECT id FROM other.t'),
        (r) => r === 'unauthorized',
      );
      expect(await users.listAccess({ name: 'bob', host: '' }, op)).toEqual([]);
      await users.revoke({ name: 'bob', host: '' }, ['other'], op); // again: a no-op, so retries succeed

      await pastPasswordRateLimit(() => users.changePassword({ name: 'bob', host: '' }, `n3w'pw"\\x$$`, op));
      await until(
        'the old password to stop working',
        () => connectAs('bob', 'bob-pw-1'),
        (r) => r === 'denied',
      );
      expect(await connectAs('bob', `n3w'pw"\\x$$`)).toBe('ok');

      await users.delete({ name: 'bob', host: '' }, op);
      await until(
        'the dropped role to be refused',
        () => connectAs('bob', `n3w'pw"\\x$$`),
        (r) => r === 'denied',
      );
      await expectCode(users.get({ name: 'bob', host: '' }, op), 'NOT_FOUND');
      await expectCode(users.delete({ name: 'bob', host: '' }, op), 'NOT_FOUND');
    });

    it('refuses duplicates and references to missing things, all or nothing', async () => {
      const op = testOp();
      const users = node.manager.users;
      await expectCode(users.create([role('alice', 'x')], op), 'ALREADY_EXISTS');
      await expectCode(users.create([role('newbie', 'x'), role('alice', 'x')], op), 'ALREADY_EXISTS');
      await expectCode(users.get({ name: 'newbie', host: '' }, op), 'NOT_FOUND');
      await expectCode(users.create([role('newbie', 'x', ['nosuchks'])], op), 'NOT_FOUND');
      await expectCode(users.get({ name: 'newbie', host: '' }, op), 'NOT_FOUND');
      await expectCode(users.grant({ name: 'nobody', host: '' }, ['app'], op), 'NOT_FOUND');
      await expectCode(users.grant({ name: 'alice', host: '' }, ['nosuchks'], op), 'NOT_FOUND');
      await expectCode(users.changePassword({ name: 'nobody', host: '' }, 'pw', op), 'NOT_FOUND');
      await expectCode(node.manager.databases.create([ks('app')], op), 'ALREADY_EXISTS');
      await expectCode(node.manager.databases.create([ks('fresh'), ks('app')], op), 'ALREADY_EXISTS');
      await expectCode(node.manager.databases.delete('nosuchks', op), 'NOT_FOUND');
      expect((await node.manager.databases.list({ limit: 0, marker: '' }, op)).databases.map((d) => d.name)).not.toContain('fresh');
    });

    it('lists roles and keyspaces in sorted pages, without the system ones', async () => {
      const op = testOp();
      const made = ['u05', 'u01', 'u03', 'u02', 'u04'].map((n) => role(n, `${n}-pw`));
      await node.manager.users.create(made, op);
      const seen: string[] = [];
      let marker = '';
      do {
        const page = await node.manager.users.list({ limit: 2, marker }, op);
        expect(page.users.length).toBeLessThanOrEqual(2);
        seen.push(...page.users.map((u) => u.name));
        marker = page.nextMarker;
      } while (marker);
      expect(seen).toEqual(['alice', 'u01', 'u02', 'u03', 'u04', 'u05']);
      const all = await node.manager.users.list({ limit: 0, marker: '' }, op);
      expect(all.users.find((u) => u.name === 'alice')?.access).toEqual([{ database: 'app' }]);
      await expectCode(node.manager.users.list({ limit: 5000, marker: '' }, op), 'INVALID_ARGUMENT', 'page.limit');
      for (const u of made) await node.manager.users.delete(u, op);

      const first = await node.manager.databases.list({ limit: 2, marker: '' }, op);
      const rest = await node.manager.databases.list({ limit: 2, marker: first.nextMarker }, op);
      expect([...first.databases, ...rest.databases].map((d) => d.name)).toEqual(['App', 'app', 'other']);
      expect(rest.nextMarker).toBe('');
      expect(first.databases.find((d) => d.name === 'app')?.replication).toEqual({ dc1: 1 });
    });

    it('keyspaces: replication per data center checked, delete takes the grants along', async () => {
      const op = testOp();
      const dbs = node.agent.databases; // as the agent calls it: input checked first, then the server's data centers
      const before = await snapshot();
      await expectCode(dbs.create([ks('shop', { dc9: 1 })], op), 'INVALID_ARGUMENT', 'databases[0].replication');
      await expectCode(dbs.create([ks('shop', { dc1: 0 })], op), 'INVALID_ARGUMENT', 'databases[0].replication.dc1');
      await expectCode(dbs.create([ks('shop', { dc1: 11 })], op), 'INVALID_ARGUMENT', 'databases[0].replication.dc1');
      await expectCode(dbs.create([ks('ok1'), ks('shop', { "dc1'": 1 })], op), 'INVALID_ARGUMENT', 'databases[1].replication');
      await expectCode(dbs.create([{ ...ks('shop'), characterSet: 'utf8' }], op), 'INVALID_ARGUMENT', 'databases[0].character_set');
      expect(await snapshot()).toEqual(before);

      await dbs.create([ks('shop', { dc1: 1 })], op);
      await node.manager.users.grant({ name: 'alice', host: '' }, ['shop'], op);
      expect(await node.manager.users.listAccess({ name: 'alice', host: '' }, op)).toEqual([{ database: 'app' }, { database: 'shop' }]);
      await dbs.delete('shop', op);
      await expectCode(dbs.delete('shop', op), 'NOT_FOUND');
      // A new keyspace of the same name starts without the old grants.
      await dbs.create([ks('shop')], op);
      expect(await node.manager.users.listAccess({ name: 'alice', host: '' }, op)).toEqual([{ database: 'app' }]);
      await dbs.delete('shop', op);
    });

    it('root: a superuser role whose password is returned once', async () => {
      const op = testOp();
      expect(await node.manager.root.status(op)).toEqual({ enabled: false, user: 'root' });
      const first = await node.manager.root.enable(op);
      expect(first.user).toBe('root');
      expect(first.password.length).toBeGreaterThanOrEqual(16);
      expect(await node.manager.root.status(op)).toEqual({ enabled: true, user: 'root' });
      const root = await login('root', first.password);
      // A superuser does what the roles cannot.
      expect(await attempt(root, "CREATE KEYSPACE rootks WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}")).toBe('ok');
      expect(await attempt(root, 'DROP KEYSPACE rootks')).toBe('ok');
      await root.shutdown();

      const second = await pastPasswordRateLimit(() => node.manager.root.enable(op));
      expect(second.password).not.toBe(first.password);
      // Right after a change the server refuses another one: a clear, retryable refusal.
      const tooSoon = await expectCode(node.manager.root.enable(op), 'FAILED_PRECONDITION');
      expect(tooSoon.message).toMatch(/try again/);
      await until(
        'the old root password to stop working',
        () => connectAs('root', first.password),
        (r) => r === 'denied',
      );
      expect(await connectAs('root', second.password)).toBe('ok');
      // Root is the root API's: the users API does not list or touch it.
      expect((await node.manager.users.list({ limit: 0, marker: '' }, op)).users.map((u) => u.name)).toEqual(['alice']);
      await expectCode(node.agent.users.delete({ name: 'root', host: '' }, op), 'INVALID_ARGUMENT', 'user.name');

      await node.manager.root.disable(op);
      expect(await node.manager.root.status(op)).toEqual({ enabled: false, user: 'root' });
      await until(
        'root to be refused',
        () => connectAs('root', second.password),
        (r) => r === 'denied',
      );
      await node.manager.root.disable(op); // again: nothing to do
    });

    it('hostile role and keyspace names are refused with INVALID_ARGUMENT and change nothing', async () => {
      const op = testOp();
      const { users, databases } = node.agent; // as the agent calls it: the operations table checks first
      const before = await snapshot();
      const badRoles = [
        '',
        'cassandra',
        'CASSANDRA',
        'steward_admin',
        'root',
        'a"; DROP KEYSPACE app; --',
        'a" WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = \'x',
        "x' OR '1'='1",
        'name with space',
        '-dash',
        '.dot',
        'x'.repeat(65),
        'tab\there',
        'new\nline',
        'nul\0byte',
        'ünïcode',
        'emoji😀',
      ];
      const badKeyspaces = [
        '',
        'system',
        'system_auth',
        'System_Schema',
        'systemx',
        'app"; DROP KEYSPACE app; --',
        'a.b',
        'a-b',
        'x'.repeat(49),
        'ks with space',
        "ks'",
        'ks\n',
        'кириллица',
      ];
      const badPasswords = ['', 'nul\0byte', 'new\nline', 'ünïcode', 'x'.repeat(257)];
      const attempts: Array<[string, () => Promise<unknown>]> = [];
      for (const n of badRoles) {
        const ref = { name: n, host: '' };
        attempts.push(
          [`create role ${JSON.stringify(n)}`, () => users.create([role(n, 'pw-ok')], op)],
          [`get role ${JSON.stringify(n)}`, () => users.get(ref, op)],
          [`delete role ${JSON.stringify(n)}`, () => users.delete(ref, op)],
          [`password of ${JSON.stringify(n)}`, () => users.changePassword(ref, 'pw-ok', op)],
          [`grant to ${JSON.stringify(n)}`, () => users.grant(ref, ['app'], op)],
          [`revoke from ${JSON.stringify(n)}`, () => users.revoke(ref, ['app'], op)],
          [`access of ${JSON.stringify(n)}`, () => users.listAccess(ref, op)],
        );
      }
      for (const k of badKeyspaces) {
        attempts.push(
          [`create keyspace ${JSON.stringify(k)}`, () => databases.create([ks(k)], op)],
          [`delete keyspace ${JSON.stringify(k)}`, () => databases.delete(k, op)],
          [`grant keyspace ${JSON.stringify(k)}`, () => users.grant({ name: 'alice', host: '' }, [k], op)],
          [`revoke keyspace ${JSON.stringify(k)}`, () => users.revoke({ name: 'alice', host: '' }, [k], op)],
          [`role with access to ${JSON.stringify(k)}`, () => users.create([role('eve', 'pw-ok', [k])], op)],
        );
      }
      for (const p of badPasswords) {
        attempts.push(
          ['create with bad password', () => users.create([role('eve', p)], op)],
          ['change to bad password', () => users.changePassword({ name: 'alice', host: '' }, p, op)],
        );
      }
      attempts.push(
        ['a host restriction', () => users.create([{ ...role('eve', 'pw-ok'), host: '10.0.0.1' }], op)],
        ['a permissions string', () => users.create([{ ...role('eve', 'pw-ok'), permissions: 'superuser' }], op)],
        ['a good role then a bad one', () => users.create([role('eve', 'pw-ok'), role('x"y', 'pw-ok')], op)],
        ['a good keyspace then a bad one', () => databases.create([ks('eve'), ks('system_eve')], op)],
        ['duplicate roles in one request', () => users.create([role('eve', 'pw-ok'), role('eve', 'pw-ok')], op)],
        ['empty grant list', () => users.grant({ name: 'alice', host: '' }, [], op)],
        ['replication injection', () => databases.create([ks('eve', { "dc1': 1, 'class": 1 })], op)],
        ['page marker too long', () => users.list({ limit: 1, marker: 'x'.repeat(400) }, op)],
      );

      for (const [label, call] of attempts) {
        const err = await failure(call());
        expect(err.code, `${label}: ${err.message}`).toBe('INVALID_ARGUMENT');
        expect(err.field, label).toBeTruthy();
        expect(err.message).not.toContain('pw-ok');
      }
      expect(attempts.length).toBeGreaterThan(200);
      expect(await snapshot()).toEqual(before);
      expect(await connectAs('alice', "al'ice-pw")).toBe('ok');
      // Markers are only compared, never put into CQL.
      expect((await users.list({ limit: 10, marker: "' OR '1'='1" }, op)).users.map((u) => u.name)).toEqual(['alice']);
    });

    it('member operations on a lone node: member info, ring view, seeds for the next start', async () => {
      const op = testOp();
      const info = await node.manager.cluster.memberInfo(op);
      expect(info).toMatchObject({ dataCenter: 'dc1', rack: 'rack1', address: node.address });
      expect(info.hostId).toMatch(/^[0-9a-f-]{36}$/);
      const ring = await node.manager.cluster.ringView(op);
      expect(ring.members).toEqual([
        expect.objectContaining({
          address: node.address,
          hostId: info.hostId,
          status: 'up',
          state: 'normal',
          tokens: 16,
          dataCenter: 'dc1',
          rack: 'rack1',
          owns: '100.0%',
        }),
      ]);
      await expectCode(node.run(payload('setSeeds', { seeds: ['127.0.0.1', 'bad seed'] }), op), 'INVALID_ARGUMENT', 'seeds[1]');
      await expectCode(node.run(payload('setSeeds', { seeds: [] }), op), 'INVALID_ARGUMENT', 'seeds');
      await node.manager.cluster.setSeeds([node.address, '127.0.0.99:7000'], op);
      expect(await readFile(cassandraPaths(node.ctx).yaml, 'utf8')).toContain(`seeds: ${node.address},127.0.0.99:7000`);
      expect(op.steps.at(-1)?.message).toMatch(/next|restart/);
      await node.manager.cluster.setSeeds([node.address], op);
    });

    // ---- configuration groups: applied before the restart test below, checked after it ----
    const { rules: parameterRules } = cassandraParameters;
    /** The node's size as the test expects it: what it was prepared with (ctx), then what the resize below gave it. */
    let memoryMb: number | undefined;
    const parameterDefaults = () => cassandraParameters.defaults(memoryMb ?? node.ctx.memoryMb);
    const yamlPath = () => cassandraPaths(node.ctx).yaml;
    const renderedYaml = async () => parse(await readFile(yamlPath(), 'utf8')) as Record<string, unknown>;
    /** The group's parameters as cassandra.yaml has them, in canonical form. */
    async function inYaml(): Promise<Record<string, string | undefined>> {
      const y = await renderedYaml();
      return Object.fromEntries(parameterRules.map((r) => [r.name, liveValue(r.name, y[r.name] === undefined ? undefined : String(y[r.name]))]));
    }
    /** The group's parameters as the running node reports them (system_views.settings), in canonical form. */
    async function onServer(): Promise<Record<string, string | undefined>> {
      const c = await login('steward_admin', await adminPassword());
      try {
        const reported = new Map(
          (await c.execute('SELECT name, value FROM system_views.settings')).rows.map((r) => [String(r.name), r.value as string | null]),
        );
        return Object.fromEntries(parameterRules.map((r) => [r.name, liveValue(r.name, reported.get(r.name))]));
      } finally {
        await c.shutdown();
      }
    }
    const applyGroup = async (values: Record<string, string>) => resultOf(await node.run(payload('applyConfiguration', { values })), 'configuration');
    /**
     * Dynamic parameters away from their defaults, one per kind of nodetool
     * command (each costs a JVM start on apply and again on detach): the other
     * timeouts go through the same `settimeout` as request_timeout.
     */
    const DYNAMIC_GROUP: Record<string, string> = {
      compaction_throughput: '16',
      stream_throughput_outbound: '48',
      concurrent_compactors: '2',
      request_timeout: '11000',
      hinted_handoff_enabled: 'off',
      max_hint_window: '3600000',
    };
    const RESTART_GROUP: Record<string, string> = { concurrent_reads: '16', auto_snapshot: 'off' };

    describe('configuration groups, before a restart', () => {
      it('a node prepared without a group runs with the catalog defaults, rendered and live', async () => {
        const d = parameterDefaults();
        expect(await inYaml()).toEqual(d);
        expect(await onServer()).toEqual(d);
      });

      it('dynamic values take effect at once and are rendered into cassandra.yaml', async () => {
        const dynamic = parameterRules.filter((r) => r.dynamic).map((r) => r.name);
        for (const name of Object.keys(DYNAMIC_GROUP)) expect(dynamic).toContain(name);
        const applied = await applyGroup(DYNAMIC_GROUP);
        expect(applied).toEqual({ values: DYNAMIC_GROUP, pendingRestart: [] });
        const expected = { ...parameterDefaults(), ...DYNAMIC_GROUP };
        expect(await onServer()).toEqual(expected);
        expect(await inYaml()).toEqual(expected);
        expect((await renderedYaml()).compaction_throughput).toBe('16MiB/s');
      });

      it('restart-required values are rendered and pending; the node keeps the old ones; other renders keep the group', async () => {
        const group = { ...DYNAMIC_GROUP, ...RESTART_GROUP };
        const applied = await applyGroup(group);
        expect(applied).toEqual({ values: group, pendingRestart: ['auto_snapshot', 'concurrent_reads'] });
        expect(await inYaml()).toEqual({ ...parameterDefaults(), ...group });
        expect(await onServer()).toEqual({ ...parameterDefaults(), ...DYNAMIC_GROUP });
        // Re-rendered for another reason (set_seeds): the group stays.
        await node.manager.cluster.setSeeds([node.address], testOp());
        expect(await inYaml()).toEqual({ ...parameterDefaults(), ...group });
      });

      it('hostile names and values are refused with INVALID_ARGUMENT naming the parameter, cassandra.yaml untouched', async () => {
        const before = await readFile(yamlPath());
        const stateFile = join(node.ctx.configDir, 'configuration-group.json');
        const stateBefore = await readFile(stateFile);
        const cases: Array<[Record<string, string>, string]> = [
          [{ cluster_name: 'evil' }, 'values.cluster_name'],
          [{ authenticator: 'AllowAllAuthenticator' }, 'values.authenticator'],
          [{ seed_provider: '127.0.0.1' }, 'values.seed_provider'],
          [{ data_file_directories: '/tmp' }, 'values.data_file_directories'],
          [{ num_tokens: '256' }, 'values.num_tokens'],
          [{ compaction_throughput: '10241' }, 'values.compaction_throughput'],
          [{ compaction_throughput: '-1' }, 'values.compaction_throughput'],
          [{ concurrent_reads: '1' }, 'values.concurrent_reads'],
          [{ read_request_timeout: '9' }, 'values.read_request_timeout'],
          [{ compaction_throughput: '64MiB/s' }, 'values.compaction_throughput'],
          [{ compaction_throughput: '64\nauthenticator: AllowAllAuthenticator' }, 'values.compaction_throughput'],
          [{ compaction_throughput: "64'" }, 'values.compaction_throughput'],
          [{ compaction_throughput: '64 # comment' }, 'values.compaction_throughput'],
          [{ compaction_throughput: '64;' }, 'values.compaction_throughput'],
          [{ compaction_throughput: 'include /etc/passwd' }, 'values.compaction_throughput'],
          [{ compaction_throughput: '６４' }, 'values.compaction_throughput'],
          [{ compaction_throughput: '' }, 'values.compaction_throughput'],
          [{ compaction_throughput: '1'.repeat(100) }, 'values.compaction_throughput'],
          [{ hinted_handoff_enabled: 'on\nauto_bootstrap: true' }, 'values.hinted_handoff_enabled'],
          [{ auto_snapshot: 'ünïcode' }, 'values.auto_snapshot'],
          [{ 'compaction_throughput\n': '64' }, 'values."compaction_throughput\\n"'],
          [{ cömpaction: '64' }, 'values."cömpaction"'],
          [{ ['x'.repeat(200)]: '1' }, `values.${JSON.stringify('x'.repeat(64))}`],
          [{ ...DYNAMIC_GROUP, concurrent_writes: '0' }, 'values.concurrent_writes'],
        ];
        for (const [values, field] of cases) {
          const label = JSON.stringify(values).slice(0, 80);
          const err = await failure(applyGroup(values));
          expect(err.code, `${label}: ${err.message}`).toBe('INVALID_ARGUMENT');
          expect(err.field, label).toBe(field);
          expect((await readFile(yamlPath())).equals(before), label).toBe(true);
        }
        // Also when a prepare request carries it: the check comes before anything else.
        const req = { memoryMb: 0, port: 0, bindAddress: '', databases: [], users: [], cluster: undefined, restore: undefined, replicaOf: undefined };
        await expectCode(
          node.agent.prepare({ ...req, configuration: { compaction_throughput: '64\n#' } }, testOp()),
          'INVALID_ARGUMENT',
          'configuration.compaction_throughput',
        );
        expect((await readFile(yamlPath())).equals(before)).toBe(true);
        expect((await readFile(stateFile)).equals(stateBefore)).toBe(true);
      });
    });

    // ---- memory resize: the server's own word for its heap, and how often it started ----
    const systemLog = () => readFile(cassandraPaths(node.ctx).systemLog, 'utf8');
    /** Every start of the JVM logs its arguments once (CassandraDaemon.logSystemInfo). */
    const starts = async () => (await systemLog()).match(/JVM Arguments: .*/g) ?? [];
    const heapOf = (pid: number | undefined) => /(?:^|\0)-Xmx(\d+m)\0/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1];
    const resize = (to: number, op = testOp()) => node.run(payload('resize', { memoryMb: to, oldMemoryMb: 0 }), op);
    const settingsFile = () => readFile(cassandraPaths(node.ctx).settings);

    it('probe follows the server: SHUTDOWN after stop, HEALTHY after start and after a resize (its restart); data survives', async () => {
      const op = testOp();
      await node.manager.stop(op);
      expect(op.steps.map((s) => s.message)).toContain('draining');
      expect((await node.manager.probe()).status).toBe(DatastoreStatus.SHUTDOWN);
      expect(serverProcesses(spec)).toEqual([]);
      await expectCode(node.manager.users.list({ limit: 0, marker: '' }, op), 'UNAVAILABLE');

      await node.manager.start(op);
      expect((await node.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const pidBefore = await node.ctx.service.pid(spec);
      // 1024 MB: a 512 MiB heap and the caches sized from it.
      expect(heapOf(pidBefore)).toBe('512m');
      const small = cassandraParameters.defaults(1024);
      expect(await onServer()).toMatchObject({ key_cache_size: small.key_cache_size, counter_cache_size: small.counter_cache_size });
      const startsBefore = (await starts()).length;

      const resizeOp = testOp();
      await resize(2048, resizeOp);
      memoryMb = 2048;
      expect(resizeOp.steps[0]?.message).toBe('resizing from 1024 MB to 2048 MB');
      const oldSpec = spec;
      spec = await node.manager.serviceSpec();
      const probe = await node.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.HEALTHY);
      expect(probe.facts.pid).not.toBe(String(pidBefore));
      // One restart: one more JVM start, the new one alone running with the new command line.
      expect((await starts()).length).toBe(startsBefore + 1);
      expect((await starts()).at(-1)).toContain('-Xmx1024m');
      expect(serverProcesses(spec)).toEqual([Number(probe.facts.pid)]);
      expect(serverProcesses(oldSpec)).toEqual([]);
      // The new size, as the server has it: its heap, its caches; recorded for every later render.
      expect(heapOf(Number(probe.facts.pid))).toBe('1024m');
      const big = cassandraParameters.defaults(2048);
      expect(big.key_cache_size).not.toBe(small.key_cache_size);
      expect(await onServer()).toMatchObject({ key_cache_size: big.key_cache_size, counter_cache_size: big.counter_cache_size });
      expect((await loadSettings(cassandraPaths(node.ctx))).memoryMb).toBe(2048);
      const alice = await login('alice', "al'ice-pw");
      expect((await alice.execute('SELECT body FROM app.notes WHERE id = 1')).rows[0].body).toBe('hello');
    });

    it('datastore logs: system, always on, its end shows the start-up', async () => {
      const op = testOp();
      const logs = await node.manager.logs.list(op);
      expect(logs).toEqual([expect.objectContaining({ name: 'system', optional: false, enabled: true })]);
      expect(logs[0]!.size).toBeGreaterThan(0);
      const shown = await node.manager.logs.show({ name: 'system', lines: 20, thresholdMs: 0 }, op);
      expect(shown.name).toBe('system');
      expect(shown.truncated).toBe(true);
      expect(shown.text.trimEnd().split('\n').length).toBeLessThanOrEqual(20);
      // The node just started (the resize): its last lines are the start-up's, logged by the main thread (nothing else logs there).
      expect(shown.text).toMatch(/^INFO {2}\[main\] .*(Startup complete|Starting listening for CQL clients|state jump to NORMAL)/m);
    });

    it('a new process backend adopts the running node through its pid file', async () => {
      const op = testOp();
      const pid = await node.ctx.service.pid(spec);
      expect(pid).toBeDefined();
      const again = node.reopen(); // as if the agent had restarted
      expect(await again.service.state(spec)).toBe('running');
      await again.manager.start(op); // must adopt, not start a second server
      expect(await again.service.pid(spec)).toBe(pid);
      expect(serverProcesses(spec)).toEqual([pid]);
      expect((await again.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      // One agent per node: the tests go on with the first one. Left watching, this one would take the
      // stop of the failing resize below for a crash and start the node again at its own (old) command line.
      if (again.service instanceof ProcessServiceControl) again.service.close();
    });

    describe('configuration groups, after the restart', () => {
      it('the restart (the resize) took the pending values, at the new size; the next apply has nothing pending', async () => {
        const group = { ...DYNAMIC_GROUP, ...RESTART_GROUP };
        expect(await onServer()).toEqual({ ...parameterDefaults(), ...group });
        expect(await applyGroup(group)).toEqual({ values: group, pendingRestart: [] });
      });

      it('detaching ({}) takes every value back to its default: dynamic ones live at once, the rest at the next restart', async () => {
        const applied = await applyGroup({});
        expect(applied).toEqual({ values: {}, pendingRestart: ['auto_snapshot', 'concurrent_reads'] });
        expect(await inYaml()).toEqual(parameterDefaults());
        expect(await onServer()).toEqual({ ...parameterDefaults(), ...RESTART_GROUP });
        // Applies render at the size the resize recorded, not the size the node was prepared with.
        expect((await renderedYaml()).key_cache_size).toBe(`${cassandraParameters.defaults(2048).key_cache_size}MiB`);
      });
    });

    describe('memory resize, refused and failed', () => {
      it('a group whose caches do not fit the smaller size refuses it with FAILED_PRECONDITION naming the value; nothing changes', async () => {
        // 200 MiB fits the 1024 MiB heap of 2048 MB (a quarter: 256 MiB), not the 512 MiB of 1024 MB.
        expect((await applyGroup({ key_cache_size: '200' }))?.pendingRestart).toContain('key_cache_size');
        const before = { yaml: await readFile(yamlPath()), settings: await settingsFile(), server: await onServer(), pid: await node.ctx.service.pid(spec) };
        const err = await expectCode(resize(1024), 'FAILED_PRECONDITION');
        expect(err.message).toContain('key_cache_size 200 MiB');
        expect(err.message).toContain('at most 128 MiB');
        expect((await readFile(yamlPath())).equals(before.yaml)).toBe(true);
        expect((await settingsFile()).equals(before.settings)).toBe(true);
        expect(await onServer()).toEqual(before.server);
        expect(await node.ctx.service.pid(spec)).toBe(before.pid);
        await applyGroup({});
      });

      it('a resize whose restart fails (its storage port taken) comes back at the old size, serving', async () => {
        const { storagePort } = await loadSettings(cassandraPaths(node.ctx));
        const squatter = createServer();
        let squatError: Error | undefined;
        squatter.on('error', (e) => (squatError = e));
        let released = false;
        const op = testOp();
        const progress = op.progress;
        // Taken once the node is down at its old size, given back once the agent has rendered the old size again.
        op.progress = (p, m) => {
          progress(p, m);
          if (m === 'starting server' && !squatter.listening) squatter.listen(storagePort, node.address);
        };
        const giveBack = (async () => {
          while (!released) {
            const mb = (await loadSettings(cassandraPaths(node.ctx))).memoryMb;
            if (squatter.listening && mb === 2048) break;
            await sleep(50);
          }
          squatter.close();
        })();
        try {
          const err = await expectCode(resize(1024, op), 'INTERNAL');
          expect(err.message).toMatch(/exited|not running/);
        } finally {
          released = true;
          squatter.close();
          await giveBack;
        }
        expect(squatError).toBeUndefined();
        expect(op.steps.map((s) => s.message)).toContain('starting server');
        const settings = await loadSettings(cassandraPaths(node.ctx));
        expect(settings.memoryMb).toBe(2048);
        expect(await node.manager.serviceSpec()).toEqual(spec);
        const probe = await node.manager.probe();
        expect(probe.status).toBe(DatastoreStatus.HEALTHY);
        expect(heapOf(Number(probe.facts.pid))).toBe('1024m');
        expect(serverProcesses(spec)).toEqual([Number(probe.facts.pid)]);
        expect(await inYaml()).toEqual(parameterDefaults());
        expect(await onServer()).toEqual(parameterDefaults());
        const alice = await login('alice', "al'ice-pw");
        expect((await alice.execute('SELECT body FROM app.notes WHERE id = 1')).rows[0].body).toBe('hello');
      });
    });

    it('destroy stops the node for good', async () => {
      await node.manager.destroy(testOp());
      expect((await node.manager.probe()).status).toBe(DatastoreStatus.SHUTDOWN);
      await sleep(1_500);
      expect(serverProcesses(spec)).toEqual([]);
    });
  });
}
