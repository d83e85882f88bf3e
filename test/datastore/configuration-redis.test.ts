// Configuration groups on a real redis-server started by the agent's process
// backend. One prepared server for the whole file; tests run in order and build
// on each other: prepare with a group, dynamic values live at once, a
// restart-required one pending until a restart, detach, and hostile input
// refused before anything is written.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderRedisConf, type ServerSettings } from '../../managers/redis/config.js';
import { withSession } from '../../managers/redis/connection.js';
import { redisIdentity } from '../../managers/redis/identity.js';
import { redisParameters } from '../../managers/redis/parameters.js';
import { ADMIN_SECRET, redisPaths } from '../../managers/redis/paths.js';
import { rewriteConfig } from '../../managers/redis/replication-config.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus } from '../../managers/sdk/types.js';
import { expectCode, failure, refusal } from '../fixtures/datastore-assertions.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { createRedisInstance, redisUnavailableReason, testOp, type RedisInstance } from '../fixtures/redis-instance.js';

const MIB = 1024 * 1024;
const reason = await redisUnavailableReason();

/** The group prepare starts with; later groups build on it (a group is always applied whole). */
const PREPARED = { 'maxmemory-policy': 'allkeys-lru', 'slowlog-max-len': '256', databases: '32', save: '3600 1', 'lazyfree-lazy-eviction': 'yes' };

if (reason) {
  describeUnavailable('redis configuration groups', 'needs a Redis server installed', 'redis configuration tests', reason);
} else {
  describe('redis configuration groups', () => {
    let inst: RedisInstance;
    let spec: ServiceSpec;
    let confFile: string;
    let stateFile: string;

    const conf = () => readFile(confFile, 'utf8');
    const confLines = async () => (await conf()).split('\n');

    async function admin<T>(fn: (call: (...args: string[]) => Promise<unknown>) => Promise<T>): Promise<T> {
      const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      return withSession({ socket: redisPaths(inst.ctx).socket, user: 'steward_admin', password }, (s) => fn(s.call));
    }

    /** The running server's values (CONFIG GET answers name, value pairs). */
    async function live(...names: string[]): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      await admin(async (call) => {
        for (const name of names) {
          const [, value] = (await call('CONFIG', 'GET', name)) as string[];
          out[name] = value!;
        }
      });
      return out;
    }

    /** Applies a group the way the agent does: through the operations table. */
    async function apply(values: Record<string, string>) {
      const result = resultOf(await inst.run(payload('applyConfiguration', { values })), 'configuration');
      if (!result) throw new Error('applyConfiguration answered no configuration');
      return result;
    }

    beforeAll(async () => {
      inst = await createRedisInstance({ memoryMb: 128 });
      spec = await inst.manager.serviceSpec();
      confFile = redisPaths(inst.ctx).configFile;
      stateFile = join(inst.ctx.configDir, 'configuration-group.json');
      await inst.agent.prepare(prepareRequest({ configuration: PREPARED }), testOp());
    });

    afterAll(async () => {
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('prepare renders the group and the server runs with it', async () => {
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const lines = await confLines();
      for (const line of [
        'maxmemory-policy allkeys-lru',
        'slowlog-max-len 256',
        'databases 32',
        'save 3600 1',
        'lazyfree-lazy-eviction yes',
        // Defaults for what the group does not set, and what the manager owns.
        'maxmemory 96mb',
        'timeout 0',
        'appendonly yes',
      ]) {
        expect(lines).toContain(line);
      }
      expect(await live('maxmemory-policy', 'slowlog-max-len', 'databases', 'save', 'lazyfree-lazy-eviction', 'maxmemory')).toEqual({
        'maxmemory-policy': 'allkeys-lru',
        'slowlog-max-len': '256',
        databases: '32',
        save: '3600 1',
        'lazyfree-lazy-eviction': 'yes',
        maxmemory: String(96 * MIB),
      });
      // Stored canonical ("yes" became "on"), nothing pending after the first start.
      expect(JSON.parse(await readFile(stateFile, 'utf8'))).toEqual({ values: { ...PREPARED, 'lazyfree-lazy-eviction': 'on' }, logs: {}, pendingRestart: [] });
    });

    it('applies dynamic values at once and renders them', async () => {
      const values = { ...PREPARED, timeout: '30', 'lazyfree-lazy-expire': 'on', maxmemory: '100000000', save: 'off', appendfsync: 'always', hz: '50' };
      const result = await apply(values);
      expect(result.pendingRestart).toEqual([]);
      expect(result.values).toMatchObject({ timeout: '30', 'lazyfree-lazy-expire': 'on', maxmemory: '100000000', 'lazyfree-lazy-eviction': 'on' });
      expect(await live('timeout', 'lazyfree-lazy-expire', 'maxmemory', 'save', 'appendfsync', 'hz', 'maxmemory-policy')).toEqual({
        timeout: '30',
        'lazyfree-lazy-expire': 'yes',
        maxmemory: '100000000',
        save: '',
        appendfsync: 'always',
        hz: '50',
        'maxmemory-policy': 'allkeys-lru',
      });
      const lines = await confLines();
      for (const line of ['timeout 30', 'lazyfree-lazy-expire yes', 'maxmemory 100000000', 'save ""', 'appendfsync always', 'hz 50']) {
        expect(lines).toContain(line);
      }
    });

    it('keeps the group when replication renders redis.conf again', async () => {
      const paths = redisPaths(inst.ctx);
      await rewriteConfig(inst.ctx, paths, { role: 'standalone', synchronous: false, failoverGuard: false, fenced: true });
      const fenced = await confLines();
      expect(fenced).toContain('min-replicas-to-write 2147483647');
      expect(fenced).toContain('timeout 30');
      expect(fenced).toContain('databases 32');
      await rewriteConfig(inst.ctx, paths, { role: 'standalone', synchronous: false, failoverGuard: false, fenced: false });
      expect((await conf()).includes('min-replicas-to-write')).toBe(false);
    });

    it('leaves a restart-required value pending until a restart', async () => {
      const values = { ...PREPARED, timeout: '30', databases: '48' };
      const result = await apply(values);
      expect(result.pendingRestart).toEqual(['databases']);
      expect(await confLines()).toContain('databases 48');
      expect(await live('databases', 'timeout', 'save')).toEqual({ databases: '32', timeout: '30', save: '3600 1' });
      expect(JSON.parse(await readFile(stateFile, 'utf8')).pendingRestart).toEqual(['databases']);
    });

    it('takes it on restart; nothing is pending afterwards', async () => {
      await inst.manager.restart(testOp());
      expect(await live('databases', 'timeout', 'slowlog-max-len')).toEqual({ databases: '48', timeout: '30', 'slowlog-max-len': '256' });
      expect(JSON.parse(await readFile(stateFile, 'utf8')).pendingRestart).toEqual([]);
      const again = await apply({ ...PREPARED, timeout: '30', databases: '48' });
      expect(again.pendingRestart).toEqual([]);
    });

    it('refuses fewer databases than one holding keys, before anything changes', async () => {
      await admin(async (call) => {
        await call('SELECT', '40');
        await call('SET', 'kept', 'x');
      });
      const before = await conf();
      const state = await readFile(stateFile, 'utf8');
      const err = await expectCode(apply({}), 'FAILED_PRECONDITION');
      expect(err.message).toMatch(/database 40 holds keys/);
      expect(await conf()).toBe(before);
      expect(await readFile(stateFile, 'utf8')).toBe(state);
      await admin(async (call) => {
        await call('SELECT', '40');
        await call('DEL', 'kept');
      });
    });

    it('detaching ({}) brings the defaults back, live and in the config', async () => {
      const result = await apply({});
      expect(result.values).toEqual({});
      expect(result.pendingRestart).toEqual(['databases']);
      const defaults = redisParameters.defaults(inst.ctx.memoryMb);
      const dynamic = redisParameters.rules.filter((r) => r.dynamic).map((r) => r.name);
      const now = await live(...dynamic);
      const expected: Record<string, string> = {};
      for (const name of dynamic) {
        const v = defaults[name]!;
        expected[name] = v === 'on' ? 'yes' : v === 'off' ? (name === 'save' ? '' : 'no') : v;
      }
      expect(now).toEqual(expected);
      // The file is exactly what a prepare without a group renders.
      const settings = JSON.parse(await readFile(redisPaths(inst.ctx).settingsFile, 'utf8')) as ServerSettings;
      expect(await conf()).toBe(renderRedisConf(settings));
      await inst.manager.restart(testOp());
      expect(await live('databases')).toEqual({ databases: '16' });
    });

    it('refuses hostile input through the operations table, naming the parameter, writing nothing', async () => {
      const before = await conf();
      const state = await readFile(stateFile, 'utf8');
      const long = 'a'.repeat(100);
      const cases: Array<[Record<string, string>, string]> = [
        [{ requirepass: 'x' }, 'values.requirepass'],
        [{ appendonly: 'no' }, 'values.appendonly'],
        [{ replicaof: '127.0.0.1 1' }, 'values.replicaof'],
        [{ masterauth: 'x' }, 'values.masterauth'],
        [{ 'min-replicas-to-write': '0' }, 'values.min-replicas-to-write'],
        [{ dir: '/tmp' }, 'values.dir'],
        [{ Maxmemory: '100000000' }, 'values."Maxmemory"'],
        [{ 'timeout\nrequirepass': '1' }, 'values."timeout\\nrequirepass"'],
        [{ [long]: '1' }, `values.${JSON.stringify(long.slice(0, 64))}`],
        [{ tïmeout: '1' }, 'values."tïmeout"'],
        [{ maxmemory: '1' }, 'values.maxmemory'],
        [{ maxmemory: '0' }, 'values.maxmemory'],
        [{ hz: '501' }, 'values.hz'],
        [{ timeout: '-1' }, 'values.timeout'],
        [{ timeout: '10.5' }, 'values.timeout'],
        [{ timeout: '10\nrequirepass x' }, 'values.timeout'],
        [{ timeout: '"10"' }, 'values.timeout'],
        [{ timeout: '10 # x' }, 'values.timeout'],
        [{ timeout: '10;' }, 'values.timeout'],
        [{ timeout: '１０' }, 'values.timeout'],
        [{ timeout: '1'.repeat(100) }, 'values.timeout'],
        [{ 'maxmemory-policy': 'NoEviction' }, 'values.maxmemory-policy'],
        [{ 'maxmemory-policy': 'noeviction\u200b' }, 'values.maxmemory-policy'],
        [{ 'maxmemory-policy': 'noeviction\ninclude /etc/passwd' }, 'values.maxmemory-policy'],
        [{ save: 'include /etc/passwd' }, 'values.save'],
        [{ save: '1 1' }, 'values.save'],
        [{ save: '3600 1"' }, 'values.save'],
        [{ 'lazyfree-lazy-expire': 'maybe' }, 'values.lazyfree-lazy-expire'],
        [{ databases: '0' }, 'values.databases'],
      ];
      for (const [values, field] of cases) {
        const err = await failure(inst.run(payload('applyConfiguration', { values })), `${JSON.stringify(values)} should be refused`);
        expect(err.code, err.message).toBe('INVALID_ARGUMENT');
        expect(err.field, JSON.stringify(values)).toBe(field);
        expect(await conf()).toBe(before);
        expect(await readFile(stateFile, 'utf8')).toBe(state);
      }
      // More names than the datastore has parameters.
      const many = Object.fromEntries(Array.from({ length: redisParameters.rules.length + 1 }, (_, i) => [`p${i}`, '1']));
      expect((await failure(inst.run(payload('applyConfiguration', { values: many })))).field).toBe('values');
      // prepare checks its group the same way, before anything is touched.
      const prep = (configuration: Record<string, string>) => () => checkCommand(payload('prepare', prepareRequest({ configuration })), redisIdentity);
      expect(refusal(prep({ hz: '0' })).field).toBe('configuration.hz');
      expect(refusal(prep({ appendonly: 'no' })).field).toBe('configuration.appendonly');
      expect(await conf()).toBe(before);
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
    });
  });
}
