// Datastore logs on a real redis-server started by the agent's process
// backend: one prepared server for the file, tests in order. Redis has one log,
// its own, always on (its slow log is SLOWLOG, in memory). Commands go through
// the operations table as the agent runs them (checked, then the manager). A
// password the agent learned (a user it created) is written into the log with
// redis.log from a script and must come back redacted, in `show` and in a
// published copy, which is fetched from a filesystem store, checked against
// its size and checksum and decrypted with the wrapping key the test granted.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withSession } from '../../managers/redis/connection.js';
import { redisIdentity } from '../../managers/redis/identity.js';
import { ADMIN_SECRET, redisPaths } from '../../managers/redis/paths.js';
import { dataKeyOf, fetchVerified, openVerified } from '../../managers/sdk/backup/pipeline.js';
import { openStorage } from '../../managers/sdk/backup/storage/open.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload, resultOf, type CommandPayload } from '../../managers/sdk/operations/payload.js';
import { REDACTED } from '../../managers/sdk/redact.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { BackupType, type BackupArtifact, type BackupKeyGrant, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import type { GuestLog, PublishedLogArtifact, PublishLogCommand } from '../../proto/gen/steward/v1/log-types.js';
import { tempStore } from '../fixtures/backup-storage.js';
import { failure, refusal } from '../fixtures/datastore-assertions.js';
import { serverProcesses, until } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
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
    const show = async (name: string, lines = 1000) => {
      const r = resultOf(await inst.run(payload('showLog', { name, lines, thresholdMs: 0 })), 'logTail');
      if (!r) throw new Error('show_log answered no tail');
      return r;
    };
    const logged = (marker: string) =>
      until(
        `${marker} in the server log`,
        async () => (await show('redis')).text,
        (t) => t.includes(marker),
        10_000,
      );
    const list = async (): Promise<GuestLog[]> => resultOf(await inst.run(payload('listLogs', {})), 'logs')?.logs ?? [];
    const publishCmd = (over: Partial<PublishLogCommand> = {}): PublishLogCommand => ({
      name: 'redis',
      publishId: randomUUID(),
      storage: store.storage,
      key: grant,
      compression: '',
      ...over,
    });
    const publish = async (cmd: PublishLogCommand, op = testOp()) => {
      const r = resultOf(await inst.run(payload('publishLog', cmd), op), 'publishedLog');
      if (!r) throw new Error('publish_log answered no artifact');
      return r;
    };
    /** Everything in the store, temporaries included. */
    const stored = () => readdirSync(store.root, { recursive: true }).map(String).sort();

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
      const op = testOp();
      const cmd = publishCmd();
      const a = await publish(cmd, op);
      const raw = readFileSync(logFile, 'utf8'); // read after: the copy is a prefix of what the file holds now
      expect(a).toMatchObject({ publishId: cmd.publishId, name: 'redis', compression: 'zstd', keyRef: 'test-master' });
      expect(a.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(a.location).toBe(`file://${store.root}/${inst.ctx.instanceId}/${cmd.publishId}/data`);
      expect(op.steps.at(-1)).toMatchObject({ percent: 100 });
      expect(stored()).toEqual([inst.ctx.instanceId, `${inst.ctx.instanceId}/${cmd.publishId}`, `${inst.ctx.instanceId}/${cmd.publishId}/data`]);
      const bytes = readFileSync(join(store.root, inst.ctx.instanceId, cmd.publishId, 'data'));
      expect(bytes.length).toBe(a.size);
      expect(bytes.includes('Ready to accept connections')).toBe(false); // encrypted at rest

      const text = await decrypted(a, grant);
      expect(Buffer.byteLength(text)).toBe(a.rawSize);
      expect(text).toContain('Ready to accept connections');
      expect(text).toContain(`secret_marker ${REDACTED} end`);
      expect(text).not.toContain(SECRET);
      // Exactly the file up to where it ended when the publish started, the secret redacted.
      expect(text.endsWith('\n')).toBe(true);
      expect(raw.split(SECRET).join(REDACTED).startsWith(text)).toBe(true);
      expect(text.length).toBeGreaterThan(raw.indexOf('secret_marker'));
      // Another key cannot open it.
      expect(() => dataKeyOf(artifactOf(a), { keyRef: 'test-master', wrappingKey: randomBytes(32) })).toThrow();

      // gzip: the same text.
      const gz = await publish(publishCmd({ compression: 'gzip' }));
      expect(gz.compression).toBe('gzip');
      expect((await decrypted(gz, grant)).startsWith(text)).toBe(true);
      rmSync(join(store.root, inst.ctx.instanceId), { recursive: true });
    });

    it('a publish refused or cancelled leaves nothing in storage', async () => {
      for (const wrappingKey of [randomBytes(16), randomBytes(64), Buffer.alloc(0)]) {
        const err = await failure(publish(publishCmd({ key: { keyRef: 'test-master', wrappingKey } })));
        expect([err.code, err.field]).toEqual(['INVALID_ARGUMENT', 'key.wrapping_key']);
      }
      const abort = new AbortController();
      abort.abort(new Error('cancelled by the test'));
      await failure(publish(publishCmd(), testOp(abort.signal)));
      expect(stored().filter((p) => p !== inst.ctx.instanceId)).toEqual([]);
      rmSync(join(store.root, inst.ctx.instanceId), { recursive: true, force: true });
    });

    it('the log cannot be switched; other names are not found and hostile ones refused, naming the field', async () => {
      const state = () => readFileSync(join(inst.ctx.configDir, 'configuration-group.json'), 'utf8');
      const before = { state: state(), stored: stored() };
      const log = (name: string, over: { lines?: number; thresholdMs?: number } = {}) => ({ name, lines: 0, thresholdMs: 0, ...over });
      for (const kind of ['enableLog', 'disableLog'] as const) {
        const err = await failure(inst.run(payload(kind, log('redis', { thresholdMs: 100 }))));
        expect(err.code, err.message).toBe('FAILED_PRECONDITION');
        expect(err.message).toContain('always on');
      }
      for (const p of [
        payload('showLog', log('slow_query')),
        payload('enableLog', log('slow_query', { thresholdMs: 200 })),
        payload('disableLog', log('slowlog')),
        payload('publishLog', publishCmd({ name: 'postgresql' })),
      ]) {
        const err = await failure(inst.run(p));
        expect(err.code, err.message).toBe('NOT_FOUND');
        expect(err.message).toContain('it has redis');
      }
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
      const cases: Array<[string, CommandPayload, string]> = [];
      for (const name of names) {
        const label = JSON.stringify(name).slice(0, 40);
        cases.push([`show ${label}`, payload('showLog', log(name)), 'name']);
        cases.push([`enable ${label}`, payload('enableLog', log(name)), 'name']);
        cases.push([`disable ${label}`, payload('disableLog', log(name)), 'name']);
        cases.push([`publish ${label}`, payload('publishLog', publishCmd({ name })), 'name']);
      }
      cases.push(
        ['show 1001 lines', payload('showLog', log('redis', { lines: 1001 })), 'lines'],
        ['enable over an hour', payload('enableLog', log('redis', { thresholdMs: 3_600_001 })), 'threshold_ms'],
        ['publish id', payload('publishLog', publishCmd({ publishId: 'not-a-uuid' })), 'publish_id'],
        ['publish key', payload('publishLog', publishCmd({ key: undefined })), 'key.wrapping_key'],
        ['publish compression', payload('publishLog', publishCmd({ compression: 'brotli' })), 'compression'],
      );
      for (const [label, p, field] of cases) {
        expect(refusal(() => checkCommand(p, redisIdentity)).field, label).toBe(field);
        const err = await failure(inst.run(p), `${label} should have been refused`);
        expect([err.code, err.field], `${label}: ${err.message}`).toEqual(['INVALID_ARGUMENT', field]);
      }
      expect(state()).toBe(before.state);
      expect(stored()).toEqual(before.stored);
      expect((await list()).map((l) => [l.name, l.enabled])).toEqual([['redis', true]]);
    });

    /** The artifact as the controller records it, from what the agent answered. */
    function artifactOf(a: PublishedLogArtifact): BackupArtifact {
      return {
        backupId: a.publishId,
        instanceId: inst.ctx.instanceId,
        datastore: 'redis',
        datastoreVersion: '',
        type: BackupType.FULL,
        parentId: '',
        size: a.size,
        rawSize: a.rawSize,
        checksum: a.checksum,
        location: a.location,
        compression: a.compression,
        encryption: a.encryption,
        wrappedKey: a.wrappedKey,
        keyRef: a.keyRef,
        facts: {},
        createdAt: '',
        finishedAt: '',
      };
    }

    /** Fetched from the store (size and checksum checked), then decrypted with the key the grant unwraps. */
    async function decrypted(a: PublishedLogArtifact, g: BackupKeyGrant): Promise<string> {
      const artifact = artifactOf(a);
      const storage = openStorage(store.storage);
      const dir = mkdtempSync(join(tmpdir(), 'steward-redislog-fetch-'));
      const signal = new AbortController().signal;
      try {
        await fetchVerified({ storage, artifact, stagingFile: join(dir, 'data'), signal });
        const chunks: Buffer[] = [];
        for await (const chunk of openVerified(join(dir, 'data'), artifact, dataKeyOf(artifact, g), signal)) chunks.push(chunk as Buffer);
        // A copy whose recorded size does not match is refused.
        const err = await failure(fetchVerified({ storage, artifact: { ...artifact, size: artifact.size + 1 }, stagingFile: join(dir, 'short'), signal }));
        expect(err.code).toBe('FAILED_PRECONDITION');
        return Buffer.concat(chunks).toString('utf8');
      } finally {
        storage.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
}
