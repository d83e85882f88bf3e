// The redis manager against a real redis-server started by the agent's own
// process backend. One prepared server serves most of the file; tests run in
// order and build on each other. Every permission is checked the way a client
// would meet it: by logging in as the user over TCP and trying.
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentManager } from '../../managers/sdk/contract.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus, type User } from '../../managers/sdk/types.js';
import { ClusterMembership } from '../../proto/gen/steward/v1/agent.js';
import { withSession } from '../../managers/redis/connection.js';
import { ADMIN_SECRET, OS_USER, redisPaths } from '../../managers/redis/paths.js';
import { lookupOsUser } from '../../managers/sdk/os-user.js';
import { createRedisInstance, redisUnavailableReason, testOp, type RedisInstance } from '../fixtures/redis-instance.js';
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
  until,
} from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { engineUnavailableReason } from '../fixtures/container-engine.js';
import { createRedisContainer, type RedisContainer } from '../fixtures/testcontainers-instances.js';

const user = (name: string, password: string, permissions = '', extra: Partial<User> = {}): User => ({
  name,
  host: '',
  password,
  access: [],
  permissions,
  ...extra,
});

function newClient(port: number, username?: string, password?: string) {
  const c = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false, connectTimeout: 5_000 }, username, password });
  c.on('error', () => undefined); // failures surface through the rejected calls
  return c;
}

type Client = ReturnType<typeof newClient>;

const reason = await redisUnavailableReason();

if (reason) {
  describeUnavailable('redis manager (process backend)', 'needs a Redis server installed', 'redis datastore tests', reason);
} else {
  describe('redis manager (process backend)', () => {
    let inst: RedisInstance;
    let spec: ServiceSpec;
    const prepareOp = testOp();
    const open: Client[] = [];

    /** A client over TCP, the way an application connects; username/password undefined = no AUTH at all. */
    async function tcp(username?: string, password?: string): Promise<Client> {
      const c = newClient(inst.port, username, password);
      await c.connect();
      open.push(c);
      return c;
    }

    /** 'ok', 'denied' (WRONGPASS or NOAUTH), or the error's text. */
    async function connectAs(username?: string, password?: string): Promise<string> {
      try {
        // Connecting authenticates (HELLO ... AUTH); nothing else is needed to know the answer.
        const c = await tcp(username, password);
        c.destroy();
        return 'ok';
      } catch (err) {
        const message = (err as Error).message;
        return /^(WRONGPASS|NOAUTH)/.test(message) ? 'denied' : message;
      }
    }

    /** The reply, or the first word of the error ('NOPERM', 'ERR', ...). */
    async function attempt(c: Client, ...args: string[]): Promise<unknown> {
      try {
        return await c.sendCommand(args);
      } catch (err) {
        return (err as Error).message.split(' ')[0];
      }
    }

    async function asAdmin<T>(fn: (call: (...args: string[]) => Promise<unknown>) => Promise<T>): Promise<T> {
      const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      return withSession({ socket: redisPaths(inst.ctx).socket, user: 'steward_admin', password }, (s) => fn(s.call));
    }

    const aclList = () => asAdmin((call) => call('ACL', 'LIST'));

    beforeAll(async () => {
      inst = await createRedisInstance({ memoryMb: 128 });
      spec = await inst.manager.serviceSpec();
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.NEW);
      await inst.manager.prepare(prepareRequest({ users: [user('app', 'app-pw-123', 'read-write'), user('reader', 'reader-pw-1', 'read-only')] }), prepareOp);
    });

    afterAll(async () => {
      for (const c of open) if (c.isOpen) c.destroy();
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('prepare reports its steps and leaves a healthy, secured server', async () => {
      const probe = await expectPreparedHealthy(inst, spec, prepareOp);
      expect(probe.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(probe.facts).toMatchObject({ role: 'master', aof_enabled: '1', rdb_last_bgsave_status: 'ok', aof_last_write_status: 'ok' });

      const paths = redisPaths(inst.ctx);
      const conf = await readFile(paths.configFile, 'utf8');
      for (const line of [
        'shutdown-on-sigterm force',
        'protected-mode yes',
        'appendonly yes',
        'appendfsync everysec',
        'set-proc-title no',
        'daemonize no',
        'maxmemory 96mb',
        'maxmemory-policy noeviction',
        `port ${inst.port}`,
        'bind 127.0.0.1',
      ]) {
        expect(conf.split('\n')).toContain(line);
      }
      const config = await asAdmin(async (call) => ({
        maxmemory: await call('CONFIG', 'GET', 'maxmemory'),
        save: await call('CONFIG', 'GET', 'save'),
        dir: await call('CONFIG', 'GET', 'dir'),
      }));
      expect(config).toEqual({
        maxmemory: ['maxmemory', String(96 * 1024 * 1024)],
        save: ['save', '3600 1 300 100 60 10000'],
        dir: ['dir', inst.ctx.dataDir],
      });

      // The default user is off; the admin's password is kept as a hash only, in files only the server and root read.
      const acl = (await aclList()) as string[];
      expect(acl.find((l) => l.startsWith('user default '))).toMatch(/^user default off /);
      const adminPassword = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      const aclFile = await readFile(paths.aclFile, 'utf8');
      expect(aclFile).toMatch(/^user steward_admin on /m);
      expect(aclFile).not.toContain(adminPassword);
      const redis = await lookupOsUser(OS_USER);
      // ACL SAVE rewrites the file with the server's own mode; the directory is what keeps others out.
      const aclDirStat = await stat(paths.aclDir);
      expect(aclDirStat.mode & 0o777).toBe(0o700);
      expect(aclDirStat.uid).toBe(redis.uid);
      expect((await stat(paths.aclFile)).uid).toBe(redis.uid);
      expect((await stat(join(inst.dir, 'secrets', ADMIN_SECRET))).mode & 0o777).toBe(0o600);
      expect(conf).not.toContain(adminPassword);

      expect(await connectAs()).toBe('denied');
      expect(await connectAs('default', 'anything-at-all')).toBe('denied');
      await expectCode(inst.manager.prepare(prepareRequest(), testOp()), 'FAILED_PRECONDITION');
    });

    it('read-write users read and write but get no admin or dangerous command', async () => {
      const c = await tcp('app', 'app-pw-123');
      expect(await c.set('greeting', 'hello')).toBe('OK');
      expect(await c.get('greeting')).toBe('hello');
      expect(await attempt(c, 'HSET', 'h', 'f', 'v')).toBe(1);
      expect(await attempt(c, 'DEL', 'h')).toBe(1);
      expect(await attempt(c, 'EVAL', "return redis.call('GET', KEYS[1])", '1', 'greeting')).toBe('hello');
      expect(await attempt(c, 'PUBLISH', 'news', 'x')).toBe(0);
      for (const cmd of [
        ['FLUSHALL'],
        ['FLUSHDB'],
        ['CONFIG', 'GET', 'dir'],
        ['CONFIG', 'SET', 'dir', '/tmp'],
        ['KEYS', '*'],
        ['DEBUG', 'SLEEP', '0'],
        ['SHUTDOWN', 'NOSAVE'],
        ['MODULE', 'LIST'],
        ['ACL', 'SETUSER', 'app', '+@all'],
        ['ACL', 'LIST'],
        ['MONITOR'],
        ['SAVE'],
        ['BGREWRITEAOF'],
        ['REPLICAOF', '127.0.0.1', '1'],
        ['CLIENT', 'KILL', 'TYPE', 'normal'],
        ['SWAPDB', '0', '1'],
        ['INFO'],
        // A script runs its commands with its caller's permissions.
        ['EVAL', "return redis.call('FLUSHALL')", '0'],
      ]) {
        expect(await attempt(c, ...cmd), cmd.join(' ')).toMatch(/^(NOPERM|ERR)$/);
      }
      expect(await c.get('greeting')).toBe('hello');
    });

    it('read-only users read but cannot write', async () => {
      const c = await tcp('reader', 'reader-pw-1');
      expect(await c.get('greeting')).toBe('hello');
      expect(await attempt(c, 'SCAN', '0')).toEqual(['0', ['greeting']]);
      expect(await attempt(c, 'SET', 'greeting', 'bye')).toBe('NOPERM');
      expect(await attempt(c, 'DEL', 'greeting')).toBe('NOPERM');
      expect(await attempt(c, 'PUBLISH', 'news', 'x')).toBe('NOPERM');
      expect(await attempt(c, 'FLUSHALL')).toBe('NOPERM');
      expect(await attempt(c, 'KEYS', '*')).toBe('NOPERM');
      expect(await c.get('greeting')).toBe('hello');
      expect(await connectAs('reader', 'wrong-password')).toBe('denied');
    });

    it('users: custom rules, get, list, change password, delete', async () => {
      const op = testOp();
      const users = inst.manager.users;
      await users.create(
        [
          user('cache', 'cache-pw-1', '~cache:* -@all +get +set +del +ping'),
          user('split', 'split-pw-1', '%R~pub:* ~own:* +@read +@write'),
          user('sub', 'sub-pw-12', '&news:* +publish +subscribe'),
          // Categories that hold dangerous commands: those are still taken away.
          user('broad', 'broad-pw-1', '~* +@keyspace +@slow +@fast'),
        ],
        op,
      );

      const cache = await tcp('cache', 'cache-pw-1');
      expect(await cache.set('cache:a', '1')).toBe('OK');
      expect(await cache.get('cache:a')).toBe('1');
      expect(await attempt(cache, 'SET', 'other', '1')).toBe('NOPERM');
      expect(await attempt(cache, 'GET', 'greeting')).toBe('NOPERM');
      expect(await attempt(cache, 'HSET', 'cache:h', 'f', 'v')).toBe('NOPERM');
      expect(await attempt(cache, 'DEL', 'cache:a')).toBe(1);

      const app = await tcp('app', 'app-pw-123');
      await app.set('pub:x', 'public');
      const split = await tcp('split', 'split-pw-1');
      expect(await split.get('pub:x')).toBe('public');
      expect(await attempt(split, 'SET', 'pub:x', 'mine')).toBe('NOPERM');
      expect(await split.set('own:x', 'mine')).toBe('OK');
      expect(await attempt(split, 'GET', 'greeting')).toBe('NOPERM');

      const sub = await tcp('sub', 'sub-pw-12');
      expect(await attempt(sub, 'PUBLISH', 'news:today', 'x')).toBe(0);
      expect(await attempt(sub, 'PUBLISH', 'gossip', 'x')).toBe('NOPERM');
      expect(await attempt(sub, 'GET', 'greeting')).toBe('NOPERM');

      const broad = await tcp('broad', 'broad-pw-1');
      expect(await attempt(broad, 'EXISTS', 'greeting')).toBe(1);
      for (const cmd of [['FLUSHALL'], ['KEYS', '*'], ['CONFIG', 'GET', 'dir'], ['SHUTDOWN'], ['ACL', 'LIST'], ['SWAPDB', '0', '1'], ['SORT', 'x']]) {
        expect(await attempt(broad, ...cmd), cmd.join(' ')).toBe('NOPERM');
      }
      expect(await attempt(broad, 'DEBUG', 'SLEEP', '0')).toMatch(/^(NOPERM|ERR)$/); // DEBUG is off server-wide

      const got = await users.get({ name: 'cache', host: '' }, op);
      expect(got).toMatchObject({ name: 'cache', host: '', password: '', access: [] });
      expect(got.permissions).toMatch(/^~cache:\* /);
      expect(got.permissions).toContain('+get');
      expect((await users.get({ name: 'split', host: '' }, op)).permissions).toMatch(/%R~pub:\* ~own:\*/);
      expect((await users.get({ name: 'sub', host: '' }, op)).permissions).toMatch(/^&news:\* /);
      // A preset reads back as the rule it stands for, which is valid input again.
      const reader = await users.get({ name: 'reader', host: '' }, op);
      expect(reader.permissions).toMatch(/^~\* -@all .*\+@read/);
      await users.create([user('reader2', 'reader-pw-2', reader.permissions)], op);
      expect((await users.get({ name: 'reader2', host: '' }, op)).permissions).toBe(reader.permissions);

      const all = await users.list({ limit: 0, marker: '' }, op);
      expect(all.users.map((u) => u.name)).toEqual(['app', 'broad', 'cache', 'reader', 'reader2', 'split', 'sub']);
      expect(all.nextMarker).toBe('');
      const first = await users.list({ limit: 3, marker: '' }, op);
      expect(first.users.map((u) => u.name)).toEqual(['app', 'broad', 'cache']);
      expect(first.nextMarker).toBe('cache');
      const second = await users.list({ limit: 3, marker: first.nextMarker }, op);
      expect(second.users.map((u) => u.name)).toEqual(['reader', 'reader2', 'split']);
      const third = await users.list({ limit: 3, marker: second.nextMarker }, op);
      expect(third).toEqual({ users: [expect.objectContaining({ name: 'sub' })], nextMarker: '' });

      await expectCode(users.create([user('cache', 'cache-pw-2', 'read-only')], op), 'ALREADY_EXISTS');
      expect(await users.listAccess({ name: 'cache', host: '' }, op)).toEqual([]);
      await expectCode(inst.agent.users.grant({ name: 'cache', host: '' }, ['0'], op), 'INVALID_ARGUMENT', 'databases[0]');
      await expectCode(inst.agent.users.revoke({ name: 'cache', host: '' }, ['0'], op), 'INVALID_ARGUMENT', 'databases[0]');

      await users.changePassword({ name: 'cache', host: '' }, 'n3w"pw\\x\'', op);
      expect(await connectAs('cache', 'cache-pw-1')).toBe('denied');
      expect(await connectAs('cache', 'n3w"pw\\x\'')).toBe('ok');
      // The password changed, nothing else did.
      expect((await users.get({ name: 'cache', host: '' }, op)).permissions).toBe(got.permissions);

      await users.delete({ name: 'cache', host: '' }, op);
      expect(await connectAs('cache', 'n3w"pw\\x\'')).toBe('denied');
      await expectCode(users.get({ name: 'cache', host: '' }, op), 'NOT_FOUND');
      await expectCode(users.delete({ name: 'cache', host: '' }, op), 'NOT_FOUND');
      await expectCode(users.changePassword({ name: 'cache', host: '' }, 'whatever-1', op), 'NOT_FOUND');
      await expectCode(users.listAccess({ name: 'cache', host: '' }, op), 'NOT_FOUND');
      for (const name of ['split', 'sub', 'broad', 'reader2']) await users.delete({ name, host: '' }, op);
    });

    it('a rule Redis itself refuses is INVALID_ARGUMENT and the whole request changes nothing', async () => {
      const op = testOp();
      const before = await aclList();
      const err = await expectCode(
        inst.manager.users.create([user('fine', 'fine-pw-12', 'read-only'), user('odd', 'odd-pw-123', '~* +nosuchcommand')], op),
        'INVALID_ARGUMENT',
        'users[1].permissions',
      );
      expect(err.message).toContain('nosuchcommand');
      expect(await aclList()).toEqual(before);
      expect(await connectAs('fine', 'fine-pw-12')).toBe('denied');
    });

    it('root: the default user is refused until enabled, works with the returned password, refused after disable', async () => {
      const op = testOp();
      const root = inst.manager.root;
      expect(await root.status(op)).toEqual({ enabled: false, user: 'default' });
      expect(await connectAs()).toBe('denied');

      const { user: rootUser, password } = await root.enable(op);
      expect(rootUser).toBe('default');
      expect(password.length).toBeGreaterThanOrEqual(16);
      expect(await root.status(op)).toEqual({ enabled: true, user: 'default' });
      // Password-only AUTH (the old requirepass style) lands on the default user.
      const c = await tcp(undefined, password);
      expect(await attempt(c, 'ACL', 'WHOAMI')).toBe('default');
      expect(await attempt(c, 'CONFIG', 'GET', 'maxmemory')).toEqual({ maxmemory: String(96 * 1024 * 1024) });
      expect(await attempt(c, 'DBSIZE')).toBeTypeOf('number');
      // Closed by the server's configuration, even for root.
      expect(await attempt(c, 'DEBUG', 'SLEEP', '0')).toBe('ERR');
      expect(await attempt(c, 'MODULE', 'LOAD', '/tmp/x.so')).toBe('ERR');
      expect(await attempt(c, 'CONFIG', 'SET', 'dir', '/tmp')).toBe('ERR');
      expect(await connectAs('default', password)).toBe('ok');

      const again = await root.enable(op);
      expect(again.password).not.toBe(password);
      expect(await connectAs('default', password)).toBe('denied');
      expect(await connectAs('default', again.password)).toBe('ok');

      await root.disable(op);
      expect(await root.status(op)).toEqual({ enabled: false, user: 'default' });
      expect(await connectAs('default', again.password)).toBe('denied');
      expect(await connectAs(undefined, again.password)).toBe('denied');
      expect(await connectAs()).toBe('denied');
      // Root never appears among the users.
      expect((await inst.manager.users.list({ limit: 0, marker: '' }, op)).users.map((u) => u.name)).toEqual(['app', 'reader']);
    });

    it('probe: a failed snapshot leaves the server RUNNING (writes refused) until a snapshot succeeds again', async () => {
      const app = await tcp('app', 'app-pw-123');
      // The server (user redis) can no longer create its temporary snapshot file.
      await chmod(inst.ctx.dataDir, 0o550);
      try {
        await asAdmin((call) => call('BGSAVE'));
        const bad = await until(
          'the failed snapshot to show',
          () => inst.manager.probe(),
          (p) => p.facts.rdb_last_bgsave_status === 'err',
          15_000,
        );
        expect(bad.status).toBe(DatastoreStatus.RUNNING);
        expect(bad.facts.error).toMatch(/MISCONF/);
        expect(bad.facts.error).toMatch(/snapshot failed/);
        expect(bad.facts.role).toBe('master');
        expect(await attempt(app, 'SET', 'refused', 'x')).toBe('MISCONF');
        // The server answers, so a start (say, after an agent restart) completes rather than waiting for it.
        await inst.manager.start(testOp());
      } finally {
        await chmod(inst.ctx.dataDir, 0o750);
        await until(
          'a good snapshot',
          () =>
            asAdmin((call) => call('BGSAVE')).then(
              () => true,
              () => false,
            ),
          (ok) => ok,
          15_000,
        );
      }
      const good = await until(
        'HEALTHY again',
        () => inst.manager.probe(),
        (p) => p.status === DatastoreStatus.HEALTHY,
        15_000,
      );
      expect(good.facts.rdb_last_bgsave_status).toBe('ok');
      expect(await attempt(app, 'SET', 'accepted', 'x')).toBe('OK');
      expect(await attempt(app, 'DEL', 'accepted')).toBe(1);
    });

    it('refuses hostile input with INVALID_ARGUMENT and changes nothing', async () => {
      const op = testOp();
      const { users } = inst.agent; // as the agent calls it: the operations table checks first
      expect((inst.manager as AgentManager).databases).toBeUndefined();
      const badNames = [
        "x'; FLUSHALL; --",
        'a b',
        'a"b',
        "a'b",
        'a>b',
        '~*',
        '+@all',
        'a\0b',
        'a\nb',
        'a\r\nFLUSHALL',
        'ålice',
        'ユーザー',
        '𝓊𝓈𝑒𝓇',
        'x'.repeat(65),
        '',
        ' alice',
        'alice ',
        '.hidden',
        '-flag',
        '>pw',
      ];
      const reservedUsers = ['default', 'DEFAULT', 'Default', 'steward_admin', 'STEWARD_ADMIN'];
      const badRules = [
        '+@all',
        '~* +@all',
        '~* +@ALL',
        'allcommands',
        '~* allcommands',
        '+@admin',
        '~* +@dangerous',
        '~* +flushall',
        '~* +FLUSHALL',
        '~* +config',
        '~* +config|set',
        '~* +config|get',
        '~* +debug',
        '~* +shutdown',
        '~* +module',
        '~* +module|load',
        '~* +acl',
        '~* +acl|setuser',
        '~* +keys',
        '~* +flushdb',
        '~* +flushall|async',
        '~* +client',
        '~* +client|kill',
        '~* +monitor',
        '~* +sort',
        '~* +info',
        '~* +@read nopass',
        'nopass',
        '~* +@read >secret-pw',
        '~* +@read <secret-pw',
        '~* +@read #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8',
        '~* +@read !5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8',
        'reset',
        '~* +@read reset',
        'resetpass',
        'resetkeys ~*',
        'resetchannels',
        'on',
        'off',
        '~* +@read on',
        'ON +@read',
        'allkeys +@read',
        'skip-sanitize-payload',
        '(~* +@read)',
        '~* (+@all)',
        'clearselectors',
        '~*  +@read',
        ' ~* +@read',
        '~* +@read ',
        '~*\t+@read',
        '~*\n+@all',
        '~* +@read\r\n+@all',
        '~* +@réad',
        '~ünïcode',
        '~* +@nosuchcategory',
        '~',
        '%R~',
        '%X~foo',
        '&',
        '~a"b',
        "~a'b",
        '~a\\b',
        '~a b',
        '+get;flushall',
        '+get|',
        '+|get',
        '++get',
        '+@',
        '@read',
        'read',
        '~* +@read,+@all',
        '   ',
        `~${'k'.repeat(300)}`,
        Array.from({ length: 70 }, (_, i) => `~k${i}`).join(' '),
      ];
      const badPasswords = ['', 'short', 'p\0assword', 'x'.repeat(257), 'pässword1', 'tab\there1', 'with space', 'new\nline12'];

      const before = await aclList();
      const attempts: Attempt[] = [];
      for (const n of [...badNames, ...reservedUsers]) {
        const ref = { name: n, host: '' };
        attempts.push(
          [`create user ${JSON.stringify(n)}`, () => users.create([user(n, 'pw-ok-123')], op)],
          [`get ${JSON.stringify(n)}`, () => users.get(ref, op)],
          [`delete ${JSON.stringify(n)}`, () => users.delete(ref, op)],
          [`change password ${JSON.stringify(n)}`, () => users.changePassword(ref, 'pw-ok-123', op)],
          [`list access ${JSON.stringify(n)}`, () => users.listAccess(ref, op)],
          [`grant ${JSON.stringify(n)}`, () => users.grant(ref, [], op)],
        );
      }
      for (const r of badRules) {
        attempts.push([`rule ${JSON.stringify(r)}`, () => users.create([user('eve', 'pw-ok-123', r)], op)]);
      }
      for (const p of badPasswords) {
        attempts.push(
          ['create with bad password', () => users.create([user('eve', p)], op)],
          ['change to bad password', () => users.changePassword({ name: 'app', host: '' }, p, op)],
        );
      }
      attempts.push(
        ['a host', () => users.create([user('eve', 'pw-ok-123', 'read-only', { host: '%' })], op)],
        ['a host on a reference', () => users.delete({ name: 'app', host: 'localhost' }, op)],
        ['database access', () => users.create([user('eve', 'pw-ok-123', 'read-only', { access: [{ database: '0' }] })], op)],
        ['a good user then a bad one', () => users.create([user('eve', 'pw-ok-123'), user('mallory', 'pw-ok-123', '+@all')], op)],
        ['duplicate users in one request', () => users.create([user('eve', 'pw-ok-123'), user('eve', 'pw-ok-123')], op)],
        ['a non-string permission', () => users.create([user('eve', 'pw-ok-123', 42 as unknown as string)], op)],
        ['page limit', () => users.list({ limit: 5000, marker: '' }, op)],
      );

      await expectAllInvalid(attempts, ['pw-ok-123', 'secret-pw']);
      expect(attempts.length).toBeGreaterThan(200);
      expect(await aclList()).toEqual(before);
      expect(await connectAs('app', 'app-pw-123')).toBe('ok');

      // Markers are only compared, never sent to the server.
      const page = await users.list({ limit: 10, marker: "' FLUSHALL" }, op);
      expect(page.users.map((u) => u.name)).toEqual(['app', 'reader']);
    });

    it('data and users survive a restart and a stop/start; probe follows the server', async () => {
      const op = testOp();
      const app = await tcp('app', 'app-pw-123');
      await app.set('durable', 'before-restart');
      await inst.manager.users.create([user('later', 'later-pw-1', '~later:* +@read +@write')], op);
      await expectRestarted(inst, spec);
      let c = await tcp('app', 'app-pw-123');
      expect(await c.get('durable')).toBe('before-restart');
      expect(await c.get('greeting')).toBe('hello');
      expect(await connectAs('later', 'later-pw-1')).toBe('ok');
      expect(await connectAs()).toBe('denied');

      await c.set('durable', 'before-stop');
      await inst.manager.stop(op);
      await expectStopped(inst, spec);
      // SIGTERM made the server write a final snapshot on its way out.
      expect((await stat(join(inst.ctx.dataDir, 'dump.rdb'))).size).toBeGreaterThan(0);

      await inst.manager.start(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      c = await tcp('app', 'app-pw-123');
      expect(await c.get('durable')).toBe('before-stop');
      expect((await inst.manager.users.list({ limit: 0, marker: '' }, op)).users.map((u) => u.name)).toEqual(['app', 'later', 'reader']);
      expect((await inst.manager.root.status(op)).enabled).toBe(false);
    });

    it('a new process backend adopts the running server through its pid file', async () => {
      await expectAdoption(inst, spec);
    });

    it('restarts a server that died behind its back, reports CRASHED meanwhile, and keeps what the AOF had', async () => {
      const app = await tcp('app', 'app-pw-123');
      await app.set('survivor', 'fsynced');
      await sleep(1_500); // appendfsync everysec: on disk within about a second
      await expectCrashRecovery(inst, spec, 60_000);
      const c = await tcp('app', 'app-pw-123');
      expect(await c.get('survivor')).toBe('fsynced');
    });

    it('destroy stops the server for good', async () => {
      await expectDestroyed(inst, spec);
    });
  });

  describe('redis prepare after a failed attempt', () => {
    let inst: RedisInstance;
    beforeAll(async () => {
      inst = await createRedisInstance({ memoryMb: 64 });
    });
    afterAll(async () => {
      await inst?.teardown();
    });

    it('is cancelled by its signal, leaves nothing running, and a retry succeeds', async () => {
      const req = prepareRequest({ users: [user('retrier', 'retry-pw-1', 'read-write')] });
      // Cancel once the server runs, i.e. with a rendered config and a live process.
      await expectCode(inst.manager.prepare(req, cancelledAt('securing')), 'CANCELLED');
      await expectNothingLeft(inst);

      await inst.manager.prepare(req, testOp());
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const c = newClient(inst.port, 'retrier', 'retry-pw-1');
      await c.connect();
      expect(await c.set('k', 'v')).toBe('OK');
      c.destroy();
    });

    it('refuses databases and cluster membership (capabilities it lacks) and bad users before touching anything', async () => {
      const fresh = await createRedisInstance();
      try {
        const databases = [{ name: 'app', characterSet: '', collation: '', ctype: '', replication: {} }];
        await expectCode(fresh.agent.prepare(prepareRequest({ databases }), testOp()), 'FAILED_PRECONDITION');
        const cluster = ClusterMembership.fromPartial({ clusterId: 'c', clusterName: 'c' });
        await expectCode(fresh.agent.prepare(prepareRequest({ cluster }), testOp()), 'FAILED_PRECONDITION');
        const users = [user('ok', 'pw-ok-123', '+@all')];
        await expectCode(fresh.agent.prepare(prepareRequest({ users }), testOp()), 'INVALID_ARGUMENT', 'users[0].permissions');
        expect(await fresh.manager.isPrepared()).toBe(false);
        expect(serverProcesses(await fresh.manager.serviceSpec())).toEqual([]);
        await expectCode(fresh.manager.users.list({ limit: 0, marker: '' }, testOp()), 'FAILED_PRECONDITION');
      } finally {
        await fresh.teardown();
      }
    });
  });
}

const engineReason = await engineUnavailableReason();

if (engineReason) {
  describeUnavailable('redis manager on Redis 7 (testcontainers)', 'needs a container engine', 'redis Testcontainers tests', engineReason);
} else {
  // The same manager on a server in a container (test/fixtures/testcontainers-datastore.ts):
  // the image's entrypoint has prepared it; users, root and the lifecycle go
  // through the manager, the checks through TCP from outside.
  describe('redis manager on Redis 7 (testcontainers)', () => {
    let inst: RedisContainer;
    const open: Client[] = [];

    async function tcp(username?: string, password?: string): Promise<Client> {
      const c = newClient(inst.port, username, password);
      await c.connect();
      open.push(c);
      return c;
    }

    /** 'ok', 'denied' (WRONGPASS or NOAUTH), or the error's text. */
    async function connectAs(username?: string, password?: string): Promise<string> {
      try {
        (await tcp(username, password)).destroy();
        return 'ok';
      } catch (err) {
        const message = (err as Error).message;
        return /^(WRONGPASS|NOAUTH)/.test(message) ? 'denied' : message;
      }
    }

    async function attempt(c: Client, ...args: string[]): Promise<unknown> {
      try {
        return await c.sendCommand(args);
      } catch (err) {
        return (err as Error).message.split(' ')[0];
      }
    }

    const aclList = async () => {
      const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      return withSession({ socket: redisPaths(inst.ctx).socket, user: 'steward_admin', password }, (s) => s.call('ACL', 'LIST'));
    };

    beforeAll(async () => {
      inst = await createRedisContainer();
    });

    afterAll(async () => {
      for (const c of open) if (c.isOpen) c.destroy();
      await inst?.teardown();
    });

    it('the server in the container is secured as prepare leaves it, and the manager probes it HEALTHY', async () => {
      const probe = await inst.manager.probe();
      expect(probe.status).toBe(DatastoreStatus.HEALTHY);
      expect(probe.version).toMatch(/^7\./);
      expect(probe.facts).toMatchObject({ role: 'master', aof_enabled: '1' });
      const acl = (await aclList()) as string[];
      expect(acl.find((l) => l.startsWith('user default '))).toMatch(/^user default off /);
      expect(await connectAs()).toBe('denied');
      // Redis ACLs know no client addresses: the admin's password is its only guard, over TCP too.
      expect(await connectAs('steward_admin', (await inst.ctx.secrets.get(ADMIN_SECRET))!)).toBe('ok');
    });

    it('users: read-write, read-only and custom rules, seen over TCP; change password, delete', async () => {
      const op = testOp();
      const users = inst.manager.users;
      await users.create(
        [
          user('app', 'app-pw-123', 'read-write'),
          user('reader', 'reader-pw-1', 'read-only'),
          user('cache', 'cache-pw-1', '~cache:* -@all +get +set +del +ping'),
        ],
        op,
      );
      const app = await tcp('app', 'app-pw-123');
      expect(await app.set('greeting', 'hello')).toBe('OK');
      for (const cmd of [['FLUSHALL'], ['CONFIG', 'GET', 'dir'], ['ACL', 'LIST'], ['DEBUG', 'SLEEP', '0'], ['MODULE', 'LIST']]) {
        expect(await attempt(app, ...cmd), cmd.join(' ')).toMatch(/^(NOPERM|ERR)$/);
      }
      const reader = await tcp('reader', 'reader-pw-1');
      expect(await reader.get('greeting')).toBe('hello');
      expect(await attempt(reader, 'SET', 'greeting', 'bye')).toBe('NOPERM');
      const cache = await tcp('cache', 'cache-pw-1');
      expect(await cache.set('cache:a', '1')).toBe('OK');
      expect(await attempt(cache, 'GET', 'greeting')).toBe('NOPERM');

      expect((await users.list({ limit: 0, marker: '' }, op)).users.map((u) => u.name)).toEqual(['app', 'cache', 'reader']);
      await users.changePassword({ name: 'cache', host: '' }, 'n3w"pw\\x\'', op);
      expect(await connectAs('cache', 'cache-pw-1')).toBe('denied');
      expect(await connectAs('cache', 'n3w"pw\\x\'')).toBe('ok');
      await users.delete({ name: 'cache', host: '' }, op);
      expect(await connectAs('cache', 'n3w"pw\\x\'')).toBe('denied');
      await expectCode(users.get({ name: 'cache', host: '' }, op), 'NOT_FOUND');
      await expectCode(users.create([user('app', 'app-pw-456', 'read-only')], op), 'ALREADY_EXISTS');
    });

    it('root: the default user is refused until enabled, works with the returned password, refused after disable', async () => {
      const op = testOp();
      const root = inst.manager.root;
      expect(await root.status(op)).toEqual({ enabled: false, user: 'default' });
      const { password } = await root.enable(op);
      const c = await tcp(undefined, password);
      expect(await attempt(c, 'ACL', 'WHOAMI')).toBe('default');
      expect(await attempt(c, 'MODULE', 'LOAD', '/tmp/x.so')).toBe('ERR');
      await root.disable(op);
      expect(await connectAs(undefined, password)).toBe('denied');
      expect(await root.status(op)).toEqual({ enabled: false, user: 'default' });
    });

    it('refuses hostile input with INVALID_ARGUMENT and changes nothing', async () => {
      const op = testOp();
      const { users } = inst.agent;
      const badNames = ["x'; FLUSHALL; --", 'a b', 'a\r\nFLUSHALL', '~*', '+@all', 'a\0b', 'ålice', 'x'.repeat(65), '', 'default', 'steward_admin'];
      const badRules = [
        '+@all',
        '~* +@all',
        'allcommands',
        '~* +flushall',
        '~* +config|set',
        '~* +acl',
        'nopass',
        '~* +@read >secret-pw',
        'reset',
        '~* +@read on',
        '~*\n+@all',
      ];
      const before = await aclList();
      const attempts: Attempt[] = [];
      for (const n of badNames) {
        attempts.push(
          [`create user ${JSON.stringify(n)}`, () => users.create([user(n, 'pw-ok-123')], op)],
          [`delete ${JSON.stringify(n)}`, () => users.delete({ name: n, host: '' }, op)],
          [`change password ${JSON.stringify(n)}`, () => users.changePassword({ name: n, host: '' }, 'pw-ok-123', op)],
        );
      }
      for (const r of badRules) attempts.push([`rule ${JSON.stringify(r)}`, () => users.create([user('eve', 'pw-ok-123', r)], op)]);
      attempts.push(['a bad password', () => users.changePassword({ name: 'app', host: '' }, 'new\nline12', op)]);
      await expectAllInvalid(attempts, ['pw-ok-123', 'secret-pw']);
      expect(await aclList()).toEqual(before);
      expect(await connectAs('app', 'app-pw-123')).toBe('ok');
    });

    it('stop, start and restart act on the container; data and users are kept', async () => {
      const op = testOp();
      const app = await tcp('app', 'app-pw-123');
      await app.set('durable', 'before-stop');
      await inst.manager.stop(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.SHUTDOWN);
      await inst.manager.start(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      await inst.manager.restart(op);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const c = await tcp('app', 'app-pw-123');
      expect(await c.get('durable')).toBe('before-stop');
      expect(await connectAs('reader', 'reader-pw-1')).toBe('ok');
      expect(await connectAs()).toBe('denied');
    });
  });
}
