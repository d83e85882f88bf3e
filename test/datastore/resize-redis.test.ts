// Memory resize on a real redis-server started by the agent's process backend.
// One prepared server for the whole file; tests run in order and build on each
// other: a resize up through the operations table (maxmemory follows, data
// kept, one restart), the new size kept by every later render, refusals that
// change nothing (a group pinning maxmemory, data that would not fit), a
// restart that fails for real taking the old size back, and a resize down.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSession } from '../../managers/redis/connection.js';
import { redisIdentity } from '../../managers/redis/identity.js';
import { ADMIN_SECRET, redisPaths, type RedisPaths } from '../../managers/redis/paths.js';
import { rewriteConfig } from '../../managers/redis/replication-config.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus } from '../../managers/sdk/types.js';
import { agentView } from '../fixtures/agent-view.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { createRedisInstance, redisUnavailableReason, testOp, type RedisInstance, type TestOp } from '../fixtures/redis-instance.js';

const MIB = 1024 * 1024;
const reason = await redisUnavailableReason();

/** What the server holds before the first resize; every later step checks it is still there. */
const KEYS = 500;

if (reason) {
  describeUnavailable('redis memory resize', 'needs a Redis server installed', 'redis resize tests', reason);
} else {
  describe('redis memory resize', () => {
    let inst: RedisInstance;
    let spec: ServiceSpec;
    let paths: RedisPaths;

    const conf = () => readFile(paths.configFile, 'utf8');
    const settings = async () => readFile(paths.settingsFile, 'utf8');
    const recordedMb = async () => (JSON.parse(await settings()) as { memoryMb: number }).memoryMb;
    const pid = () => inst.ctx.service.pid(spec);
    /** Starts and clean stops the server has logged: a restart adds one of each. */
    const lifecycle = async () => {
      const log = await readFile(paths.logFile, 'utf8');
      return { starts: log.match(/Ready to accept connections/g)?.length ?? 0, stops: log.match(/Received SIGTERM/g)?.length ?? 0 };
    };

    async function admin<T>(fn: (call: (...args: string[]) => Promise<unknown>) => Promise<T>): Promise<T> {
      const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      return withSession({ socket: paths.socket, user: 'steward_admin', password }, (s) => fn(s.call));
    }

    const liveMaxmemory = () => admin(async (call) => ((await call('CONFIG', 'GET', 'maxmemory')) as string[])[1]);

    /** The data written before the first resize, all of it. */
    async function expectData(): Promise<void> {
      await admin(async (call) => {
        expect(await call('DBSIZE')).toBe(KEYS);
        expect(await call('GET', 'k:0')).toBe('v:0');
        expect(await call('GET', `k:${KEYS - 1}`)).toBe(`v:${KEYS - 1}`);
        await call('SELECT', '3');
        expect(await call('HGET', 'h', 'f')).toBe('in db 3');
      });
    }

    /** The server answers at `memoryMb`: recorded, rendered, in force, healthy, with its data. */
    async function expectSize(memoryMb: number): Promise<void> {
      const maxmemory = Math.floor(memoryMb * 0.75);
      expect(await recordedMb()).toBe(memoryMb);
      expect((await conf()).split('\n')).toContain(`maxmemory ${maxmemory}mb`);
      expect(await liveMaxmemory()).toBe(String(maxmemory * MIB));
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      await expectData();
    }

    const resize = (memoryMb: number, oldMemoryMb: number, op?: TestOp) => inst.run(payload('resize', { memoryMb, oldMemoryMb }), op);

    const apply = async (values: Record<string, string>) => {
      const result = resultOf(await inst.run(payload('applyConfiguration', { values })), 'configuration');
      if (!result) throw new Error('applyConfiguration answered no configuration');
      return result;
    };

    /** Config, settings, live value and process as they are: a refusal must leave all of it alone. */
    async function snapshot() {
      return { conf: await conf(), settings: await settings(), maxmemory: await liveMaxmemory(), pid: await pid(), lifecycle: await lifecycle() };
    }

    beforeAll(async () => {
      inst = await createRedisInstance({ memoryMb: 128 });
      spec = await inst.manager.serviceSpec();
      paths = redisPaths(inst.ctx);
      await inst.agent.prepare(prepareRequest(), testOp());
      await admin(async (call) => {
        for (let i = 0; i < KEYS; i++) await call('SET', `k:${i}`, `v:${i}`);
        await call('SELECT', '3');
        await call('HSET', 'h', 'f', 'in db 3');
      });
    });

    afterAll(async () => {
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('is prepared at 128 MB with its data', async () => {
      expect(redisIdentity.capabilities).toContain('resize');
      await expectSize(128);
    });

    it('refuses a size the operations table does not take, before anything is touched', async () => {
      const before = await snapshot();
      for (const memoryMb of [0, 64, 127, 2_000_000]) {
        await expectCode(resize(memoryMb, 128), 'INVALID_ARGUMENT', 'memory_mb');
      }
      expect(await snapshot()).toEqual(before);
    });

    it('resizes to 256 MB through the operations table: maxmemory follows, the data stays, one restart', async () => {
      const pidBefore = await pid();
      const before = await lifecycle();
      const op = testOp();
      await resize(256, 128, op);
      await expectSize(256);
      expect(await pid()).not.toBe(pidBefore);
      expect(serverProcesses(spec)).toEqual([await pid()]);
      expect(await lifecycle()).toEqual({ starts: before.starts + 1, stops: before.stops + 1 });
      expect(op.steps[0]?.message).toBe('resizing from 128 MB to 256 MB');
      expect(op.steps.at(-1)?.percent).toBe(100);
    });

    it('keeps 256 MB through a configuration apply, a replication render, a restart and a new agent', async () => {
      const result = await apply({ timeout: '30' });
      expect(result.pendingRestart).toEqual([]);
      expect(await liveMaxmemory()).toBe(String(192 * MIB));
      expect((await conf()).split('\n')).toEqual(expect.arrayContaining(['maxmemory 192mb', 'timeout 30']));

      await rewriteConfig(inst.ctx, paths, { role: 'standalone', synchronous: false, failoverGuard: false, fenced: true });
      expect((await conf()).split('\n')).toEqual(expect.arrayContaining(['maxmemory 192mb', 'min-replicas-to-write 2147483647']));
      await rewriteConfig(inst.ctx, paths, { role: 'standalone', synchronous: false, failoverGuard: false, fenced: false });

      await inst.manager.restart(testOp());
      await expectSize(256);

      // A restarted agent is still configured with 128 MB: what it renders and sets comes from the resize.
      const again = inst.reopen();
      try {
        expect(again.manager.configuration).toBeDefined();
        const detached = resultOf(await agentView(again.manager, redisIdentity).run(payload('applyConfiguration', { values: {} }), testOp()), 'configuration');
        expect(detached?.values).toEqual({});
        await expectSize(256);
        expect((await conf()).split('\n')).toContain('timeout 0');
      } finally {
        await again.manager.close();
      }
    });

    it('refuses 128 MB while the group pins maxmemory above it, naming the parameter, changing nothing', async () => {
      await apply({ maxmemory: String(150 * MIB) });
      expect(await liveMaxmemory()).toBe(String(150 * MIB));
      const before = await snapshot();
      const err = await expectCode(resize(128, 256), 'FAILED_PRECONDITION');
      expect(err.message).toBe(
        "the configuration group does not fit 128 MB: maxmemory is 157286400 bytes (150 MB), not below the instance's 128 MB: " +
          "the data alone would fill the memory and the server be killed before maxmemory-policy applies (lower it, or leave it to Steward's default, 96 MB at 128 MB)",
      );
      expect(await snapshot()).toEqual(before);
      await apply({});
      await expectSize(256);
    });

    it('refuses 128 MB while the data takes more than its maxmemory, changing nothing', async () => {
      // 100 MB in one key, above the 96 MB maxmemory of 128 MB (and well below 256 MB's 192 MB).
      await admin((call) => call('SETRANGE', 'big', String(100 * MIB - 1), 'x'));
      try {
        const before = await snapshot();
        const err = await expectCode(resize(128, 256), 'FAILED_PRECONDITION');
        expect(err.message).toMatch(
          /^the data takes 1\d\d(\.\d)? MB \(used_memory\), more than maxmemory at 128 MB \(96 MB\): with maxmemory-policy noeviction the restarted server would refuse writes/,
        );
        expect(await snapshot()).toEqual(before);
      } finally {
        await admin((call) => call('DEL', 'big'));
      }
      await expectSize(256);
    });

    it('takes 256 MB back when the restart at 512 MB fails for real, and serves', async () => {
      // The data directory is closed to the server for the first restart only: the new
      // server cannot chdir into it and exits at once. It opens again the moment that
      // failure reaches the console log, before the agent starts the server at the old size.
      const { mode } = await stat(inst.ctx.dataDir);
      const consoleFrom = statSync(paths.consoleLog).size;
      let watch: NodeJS.Timeout | undefined;
      let reopened = false;
      const reopen = () => {
        clearInterval(watch);
        if (!reopened) chmodSync(inst.ctx.dataDir, mode);
        reopened = true;
      };
      const op = testOp();
      const progress = op.progress;
      op.progress = (percent, message, bytes) => {
        progress(percent, message, bytes);
        if (message !== 'restarting server' || watch) return;
        chmodSync(inst.ctx.dataDir, 0);
        watch = setInterval(() => {
          if (readFileSync(paths.consoleLog).subarray(consoleFrom).includes('FATAL CONFIG FILE ERROR')) reopen();
        }, 1);
      };

      const pidBefore = await pid();
      const before = await lifecycle();
      try {
        const err = await expectCode(resize(512, 256, op), 'INTERNAL');
        expect(err.message).toMatch(/Redis server exited while starting/);
        expect(err.message).toMatch(/FATAL CONFIG FILE ERROR[\s\S]*'dir [^']+'\nPermission denied/);
      } finally {
        reopen();
      }
      expect(watch).toBeDefined();
      await expectSize(256);
      expect(await pid()).not.toBe(pidBefore);
      expect(serverProcesses(spec)).toEqual([await pid()]);
      // The server that failed never got as far as its log file: one stop, one start (at the old size).
      expect(await lifecycle()).toEqual({ starts: before.starts + 1, stops: before.stops + 1 });
    });

    it('resizes down to 128 MB once the data fits', async () => {
      const pidBefore = await pid();
      const before = await lifecycle();
      await resize(128, 256);
      await expectSize(128);
      expect(await pid()).not.toBe(pidBefore);
      expect(await lifecycle()).toEqual({ starts: before.starts + 1, stops: before.stops + 1 });
    });
  });
}
