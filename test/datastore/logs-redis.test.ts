// Datastore logs on a real redis-server started by the agent's process
// backend: one prepared server for the file, tests in order. Redis has one log,
// its own, always on (its slow log is SLOWLOG, in memory). Commands go through
// the operations table as the agent runs them (checked, then the manager). A
// password the agent learned (a user it created) is written into the log with
// redis.log from a script and must come back redacted, in `show` and in a
// published copy, which is fetched from a filesystem store, checked against
// its size and checksum and decrypted with the wrapping key the test granted.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSession } from '../../managers/redis/connection.js';
import { redisIdentity } from '../../managers/redis/identity.js';
import { ADMIN_SECRET, redisPaths } from '../../managers/redis/paths.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import { REDACTED } from '../../managers/sdk/redact.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import type { BackupKeyGrant, BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { tempStore } from '../fixtures/backup-storage.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { guestLogs, logRequest as log, type RefusedCase } from '../fixtures/guest-logs.js';
import { createRedisInstance, redisUnavailableReason, testOp, type RedisInstance } from '../fixtures/redis-instance.js';

/** The password of a user created through the agent: from then on a secret the agent knows. */
const SECRET = 'Redis-Logs-Secret-Pw-3307';
const reason = await redisUnavailableReason();

if (reason) {
  describeUnavailable('redis datastore logs', 'needs a Redis server installed', 'redis log tests', reason);
} else {
  describe('redis datastore logs (process backend)', () => {
    let inst: RedisInstance;
    let spec: ServiceSpec;
    let logFile: string;
    let store: { root: string; storage: BackupStorage };
    /** The controller's part: a 32-byte wrapping key per publish (one for the file here). */
    const grant: BackupKeyGrant = { keyRef: 'test-master', wrappingKey: randomBytes(32) };

    async function admin<T>(fn: (call: (...args: string[]) => Promise<unknown>) => Promise<T>): Promise<T> {
      const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
      return withSession({ socket: redisPaths(inst.ctx).socket, user: 'steward_admin', password }, (s) => fn(s.call));
    }
    /** A line in the server's log, written by the server itself (redis.log from a script). */
    const serverLog = (message: string) => admin((call) => call('EVAL', 'redis.log(redis.LOG_WARNING, ARGV[1])', '0', message));
    const guest = guestLogs({
      inst: () => inst,
      store: () => store,
      grant,
      datastore: 'redis',
      serverLog: 'redis',
      publishName: 'redis',
      mismatch: 'size',
    });
    const { show, list, logged, publishCmd, publish, stored, decrypted } = guest;

    beforeAll(async () => {
      inst = await createRedisInstance();
      spec = await inst.manager.serviceSpec();
      logFile = redisPaths(inst.ctx).logFile;
      store = tempStore('steward-redislogs-');
      await inst.agent.prepare(prepareRequest(), testOp());
    });

    afterAll(async () => {
      await inst?.teardown();
      if (store) rmSync(store.root, { recursive: true, force: true });
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it("lists one log, 'redis', always on and written to", async () => {
      const logs = await list();
      expect(logs).toEqual([
        {
          name: 'redis',
          optional: false,
          enabled: true,
          size: readFileSync(logFile).length,
          description: expect.stringContaining("The server's log"),
          thresholdMs: 0,
          published: 0,
        },
      ]);
      expect(logs[0]!.size).toBeGreaterThan(0);
    });

    it("show returns the end of the server's log: its start-up lines", async () => {
      const tail = await show('redis');
      expect(tail).toMatchObject({ name: 'redis', truncated: false, size: readFileSync(logFile).length });
      expect(tail.text).toContain('Server initialized');
      expect(tail.text).toContain('Ready to accept connections');
      expect(tail.text).toMatch(/Redis version=\d+\.\d+\.\d+/);
      expect(tail.text).toBe(readFileSync(logFile, 'utf8').replace(/\n$/, ''));
      const two = await show('redis', 2);
      expect(two.text.split('\n')).toHaveLength(2);
      expect(two.truncated).toBe(true);
      expect(tail.text.endsWith(two.text)).toBe(true);
      // Fifty lines when the command asks for none.
      expect((await show('redis', 0)).text.split('\n').length).toBeLessThanOrEqual(50);
    });

    it('a password the agent learned through createUsers comes back [REDACTED] in show', async () => {
      await inst.run(payload('createUsers', { users: [{ name: 'log_reader', host: '', password: SECRET, access: [], permissions: 'read-only' }] }));
      await serverLog(`secret_marker ${SECRET} end`);
      const text = await logged('secret_marker');
      expect(text).toContain(`secret_marker ${REDACTED} end`);
      expect(text).not.toContain(SECRET);
      // The file itself has it: it is the agent that redacts.
      expect(readFileSync(logFile, 'utf8')).toContain(`secret_marker ${SECRET} end`);
    });

    it('publish stores a redacted, encrypted copy that fetches, verifies and decrypts to the log', async () => {
      // The artifact, the store, the copy against the file and another key: as every datastore's (guest-logs.ts).
      const rawLog = () => readFileSync(logFile, 'utf8');
      const text = await guest.publishVerified('redis', { rawLog, atRest: 'Ready to accept connections', secret: SECRET, marker: 'secret_marker' });
      expect(text).toContain('Ready to accept connections');
      expect(text).toContain(`secret_marker ${REDACTED} end`);

      // gzip: the same text.
      const gz = await publish(publishCmd({ compression: 'gzip' }));
      expect(gz.compression).toBe('gzip');
      expect((await decrypted(gz, grant)).startsWith(text)).toBe(true);
      rmSync(join(store.root, inst.ctx.instanceId), { recursive: true });
    });

    it('a publish refused or cancelled leaves nothing in storage', async () => {
      await guest.expectKeysRefused([randomBytes(16), randomBytes(64), Buffer.alloc(0)]);
      await guest.cancelledPublish();
      expect(stored().filter((p) => p !== inst.ctx.instanceId)).toEqual([]);
      rmSync(join(store.root, inst.ctx.instanceId), { recursive: true, force: true });
    });

    it('the log cannot be switched; other names are not found and hostile ones refused, naming the field', async () => {
      const state = () => readFileSync(join(inst.ctx.configDir, 'configuration-group.json'), 'utf8');
      const before = { state: state(), stored: stored() };
      await guest.expectAlwaysOn('redis', { thresholdMs: 100 });
      await guest.expectNotFound(
        [
          payload('showLog', log('slow_query')),
          payload('enableLog', log('slow_query', { thresholdMs: 200 })),
          payload('disableLog', log('slowlog')),
          payload('publishLog', publishCmd({ name: 'postgresql' })),
        ],
        'it has redis',
      );
      const names = [
        '../redis',
        '../../etc/passwd',
        "redis'; FLUSHALL",
        'redis"',
        'ｒｅｄｉｓ',
        'rédis',
        'redis\n',
        'redis log',
        'REDIS',
        '',
        'r'.repeat(33),
        'r'.repeat(4096),
      ];
      const cases: RefusedCase[] = guest.hostileNames(names);
      cases.push(
        ['show 1001 lines', payload('showLog', log('redis', { lines: 1001 })), 'lines'],
        ['enable over an hour', payload('enableLog', log('redis', { thresholdMs: 3_600_001 })), 'threshold_ms'],
        ['publish id', payload('publishLog', publishCmd({ publishId: 'not-a-uuid' })), 'publish_id'],
        ['publish key', payload('publishLog', publishCmd({ key: undefined })), 'key.wrapping_key'],
        ['publish compression', payload('publishLog', publishCmd({ compression: 'brotli' })), 'compression'],
      );
      await guest.expectRefused(cases, redisIdentity);
      expect(state()).toBe(before.state);
      expect(stored()).toEqual(before.stored);
      expect((await list()).map((l) => [l.name, l.enabled])).toEqual([['redis', true]]);
    });
  });
}
