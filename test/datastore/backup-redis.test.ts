// Redis backups end to end at the datastore level: real servers started by the
// agent's process backend, an RDB snapshot taken over SYNC through the real
// pipeline, and restores through prepare into fresh instances, compared with
// the source by content (key count and a type-aware digest of every key, TTLs
// included), never by "the command succeeded".
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type BackupStorage, type RestoreBackupCommand } from '../../proto/gen/steward/v1/backups.js';
import { newDataKey, wrapDataKey } from '../../managers/sdk/backup/keys.js';
import { dataKey as dataObject, writeMeta } from '../../managers/sdk/backup/layout.js';
import { saveStream } from '../../managers/sdk/backup/pipeline.js';
import { FilesystemStorage } from '../../managers/sdk/backup/storage/filesystem.js';
import { DatastoreStatus, type User } from '../../managers/sdk/types.js';
import { ADMIN_SECRET, redisPaths } from '../../managers/redis/paths.js';
import { syncRdb } from '../../managers/redis/rdb-sync.js';
import { aofLayout, BASE_NAME } from '../../managers/redis/restore-aof.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { expectNothingLeft, serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';
import { createRedisInstance, redisUnavailableReason, testOp, type RedisInstance } from '../fixtures/redis-instance.js';
import { expectStored, flippedCopy, tempStore, testGrant } from '../fixtures/backup-storage.js';
import { payload } from '../../managers/sdk/operations/payload.js';

const reason = await redisUnavailableReason();

const appUser: User = { name: 'app', host: '', password: 'app-pw-123', access: [], permissions: 'read-write' };
const DBS = [0, 3];

async function adminClient(inst: RedisInstance, database = 0) {
  const password = (await inst.ctx.secrets.get(ADMIN_SECRET))!;
  const c = createClient({ socket: { path: redisPaths(inst.ctx).socket, reconnectStrategy: false }, username: 'steward_admin', password, database, RESP: 2 });
  c.on('error', () => undefined); // failures surface through the rejected calls
  await c.connect();
  return c;
}
type Client = Awaited<ReturnType<typeof adminClient>>;

const cmd = (c: Client, ...args: string[]) => c.sendCommand(args) as Promise<unknown>;

/** Strings, hashes, lists, sets (small and big encodings), sorted sets, a stream, keys with TTLs, and a second database. */
async function seed(inst: RedisInstance): Promise<void> {
  const c = await adminClient(inst);
  const d3 = await adminClient(inst, 3);
  try {
    const w: Array<Promise<unknown>> = [];
    const val = () => randomBytes(24).toString('base64');
    for (let i = 0; i < 2000; i++) w.push(cmd(c, 'SET', `str:${i}`, val()));
    for (let i = 0; i < 300; i++) {
      w.push(cmd(c, 'HSET', `hash:${i}`, 'name', `n${i}`, 'price', String(i * 1.5), 'blob', val()));
      w.push(cmd(c, 'RPUSH', `list:${i}`, 'a', String(i), val(), 'a'));
      w.push(cmd(c, 'SADD', `set:${i}`, ...(i % 2 ? ['1', '2', String(i)] : ['x', 'y', val()])));
      w.push(cmd(c, 'ZADD', `zset:${i}`, '1', 'one', String(i / 7), 'frac', '-3', val()));
    }
    // Big ones get the hashtable/skiplist encodings, whose iteration order is the server's own.
    w.push(cmd(c, 'SADD', 'big:set', ...Array.from({ length: 2000 }, (_, i) => `m${i}`)));
    w.push(cmd(c, 'HSET', 'big:hash', ...Array.from({ length: 1000 }, (_, i) => [`f${i}`, val()]).flat()));
    w.push(cmd(c, 'ZADD', 'big:zset', ...Array.from({ length: 500 }, (_, i) => [String(i % 37), `z${i}`]).flat()));
    w.push(cmd(c, 'RPUSH', 'big:list', ...Array.from({ length: 1000 }, (_, i) => `l${i}`)));
    for (let i = 0; i < 50; i++) w.push(cmd(c, 'XADD', 'stream:events', '*', 'n', String(i), 'v', val()));
    for (let i = 0; i < 200; i++) w.push(cmd(c, 'SET', `ttl:${i}`, val(), 'EX', String(3600 + i)));
    for (let i = 0; i < 50; i++) w.push(cmd(c, 'EXPIRE', `hash:${i}`, '7200'));
    for (let i = 0; i < 100; i++) w.push(cmd(d3, 'SET', `other:${i}`, val()));
    await Promise.all(w);
  } finally {
    await Promise.all([c.close(), d3.close()]);
  }
}

async function contentOf(c: Client, key: string, type: string): Promise<unknown> {
  switch (type) {
    case 'string':
      return cmd(c, 'GET', key);
    case 'hash':
      return ((await cmd(c, 'HGETALL', key)) as string[]).reduce<string[][]>((a, v, i) => (i % 2 ? a[a.length - 1].push(v) : a.push([v]), a), []).sort();
    case 'list':
      return cmd(c, 'LRANGE', key, '0', '-1');
    case 'set':
      return ((await cmd(c, 'SMEMBERS', key)) as string[]).sort();
    case 'zset':
      return cmd(c, 'ZRANGE', key, '0', '-1', 'WITHSCORES');
    case 'stream':
      return cmd(c, 'XRANGE', key, '-', '+');
    default:
      throw new Error(`no reader for ${type}`);
  }
}

interface Snapshot {
  keys: number;
  withTtl: number;
  digest: string;
}

/** Every key of every database in key order: type, content and whether it has a TTL (its exact value moves on). */
async function snapshot(inst: RedisInstance): Promise<Snapshot> {
  const hash = createHash('sha256');
  let keys = 0;
  let withTtl = 0;
  for (const db of DBS) {
    const c = await adminClient(inst, db);
    try {
      const names: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = (await cmd(c, 'SCAN', cursor, 'COUNT', '1000')) as [string, string[]];
        names.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      names.sort();
      const rows = await Promise.all(
        names.map(async (key) => {
          const type = String(await cmd(c, 'TYPE', key));
          const ttl = Number(await cmd(c, 'PTTL', key));
          return [db, key, type, ttl > 0, await contentOf(c, key, type)] as const;
        }),
      );
      for (const row of rows) {
        hash.update(`${JSON.stringify(row)}\n`);
        if (row[3]) withTtl++;
      }
      keys += names.length;
    } finally {
      await c.close();
    }
  }
  return { keys, withTtl, digest: hash.digest('hex') };
}

async function persistence(inst: RedisInstance): Promise<Record<string, string>> {
  const c = await adminClient(inst);
  try {
    const text = String(await cmd(c, 'INFO', 'persistence'));
    return Object.fromEntries(
      text
        .split(/\r?\n/)
        .filter((l) => l.includes(':'))
        .map((l) => l.split(':', 2) as [string, string]),
    );
  } finally {
    await c.close();
  }
}

if (reason) {
  describeUnavailable('Redis backup and restore', 'needs a Redis server installed', 'redis backup tests', reason);
} else {
  describe('Redis backup and restore (RDB over SYNC, process backend)', () => {
    let src: RedisInstance;
    let dst: RedisInstance;
    let root: string;
    let storage: BackupStorage;
    let full: BackupArtifact;
    let atBackup: Snapshot;
    const grant = testGrant();
    const restoreOf = (artifact: BackupArtifact): RestoreBackupCommand => ({ storage, chain: [{ artifact, key: grant }] });

    beforeAll(async () => {
      ({ root, storage } = tempStore());
      [src, dst] = await Promise.all([createRedisInstance(), createRedisInstance()]);
      await src.manager.prepare(prepareRequest({ users: [appUser] }), testOp());
      await seed(src);
    });

    afterAll(async () => {
      const specs = await Promise.all([src, dst].filter(Boolean).map((i) => i.manager.serviceSpec()));
      await Promise.all([src?.teardown(), dst?.teardown()]);
      for (const spec of specs) expect(serverProcesses(spec)).toEqual([]);
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('makes a full backup: a fresh RDB, stored, checksummed, with progress in bytes', async () => {
      atBackup = await snapshot(src);
      expect(atBackup.keys).toBe(2000 + 4 * 300 + 4 + 1 + 200 + 100);
      expect(atBackup.withTtl).toBe(250);
      const op = testOp();
      full = await src.manager.backup.create({ backupId: 'full-1', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' }, op);
      expect(full).toMatchObject({ type: BackupType.FULL, datastore: 'redis', parentId: '', compression: 'zstd', keyRef: 'test-master' });
      expect(full.datastoreVersion).toMatch(/^7\.\d+\.\d+$/);
      expect(full.facts).toMatchObject({ format: 'rdb', rdb_version: expect.stringMatching(/^\d+$/), redis_version: full.datastoreVersion });
      expect(full.rawSize).toBeGreaterThan(100_000);
      expectStored(root, full, op, src.ctx.stateDir);
      const stored = readFileSync(join(root, src.ctx.instanceId, 'full-1', 'data'));
      expect(`sha256:${createHash('sha256').update(stored).digest('hex')}`).toBe(full.checksum);
      const meta = JSON.parse(readFileSync(join(root, src.ctx.instanceId, 'full-1', 'meta.json'), 'utf8'));
      expect(meta).toMatchObject({ type: 'BACKUP_TYPE_FULL', datastore: 'redis' });
      expect(op.steps.some((s) => /streaming the snapshot: .* of about /.test(s.message))).toBe(true);

      // Written after the backup: none of this may come back with it.
      const c = await adminClient(src);
      try {
        await Promise.all(Array.from({ length: 300 }, (_, i) => cmd(c, 'SET', `late:${i}`, 'after')));
        await cmd(c, 'DEL', 'big:set', 'str:0', 'str:1');
        await cmd(c, 'HSET', 'hash:7', 'name', 'changed');
        await cmd(c, 'RPUSH', 'big:list', 'appended');
      } finally {
        await c.close();
      }
      expect(await snapshot(src)).not.toEqual(atBackup);
    });

    it('refuses an incremental backup with FAILED_PRECONDITION and writes nothing to storage', async () => {
      const err = await expectCode(
        src.run(payload('createBackup', { backupId: 'incr-1', type: BackupType.INCREMENTAL, parent: full, storage, key: grant, compression: 'zstd' })),
        'FAILED_PRECONDITION',
      );
      expect(err.message).toMatch(/datastore Redis does not support incremental backups/);
      // Nothing under the refused backup's prefix, not even a partial object.
      expect(readdirSync(join(root, src.ctx.instanceId))).toEqual(['full-1']);
      expect(readdirSync(join(root, src.ctx.instanceId, 'full-1')).sort()).toEqual(['data', 'meta.json']);
    });

    it('refuses users together with a restore, before touching anything', async () => {
      await expectCode(dst.agent.prepare(prepareRequest({ users: [appUser], restore: restoreOf(full) }), testOp()), 'INVALID_ARGUMENT', 'users');
      await expectNothingLeft(dst);
    });

    it('refuses a backup with a flipped byte in storage: no marker, no server, an empty data directory', async () => {
      const dir = join(root, src.ctx.instanceId);
      const broken = flippedCopy(root, full, 'full-flip');
      const err = await expectCode(dst.manager.prepare(prepareRequest({ restore: restoreOf(broken) }), testOp()), 'FAILED_PRECONDITION');
      expect(err.message).toMatch(
        /backup full-1 is corrupt or incomplete in storage: checksum sha256:\w+ does not match the recorded sha256:\w+; nothing was restored/,
      );
      await expectNothingLeft(dst);
      expect(await readdir(dst.ctx.dataDir)).toEqual([]);
      expect(readdirSync(dst.ctx.stateDir)).not.toContain('restore-staging');
      rmSync(join(dir, 'full-flip'), { recursive: true });
    });

    it('refuses a well-stored snapshot this Redis cannot load (a newer RDB version), before any server starts', async () => {
      // The real snapshot with its header claiming RDB 99: stored and checksummed correctly, so only redis-check-rdb can tell.
      const password = (await src.ctx.secrets.get(ADMIN_SECRET))!;
      const rdb = await buffer(syncRdb({ socket: redisPaths(src.ctx).socket, user: 'steward_admin', password, signal: AbortSignal.timeout(30_000) }).output);
      rdb.write('0099', 5, 'latin1');
      const fs = new FilesystemStorage(root);
      const dataKey = newDataKey();
      const saved = await saveStream({
        source: Readable.from([rdb]),
        storage: fs,
        key: dataObject(src.ctx.instanceId, 'future-1'),
        dataKey,
        compression: 'gzip',
        signal: AbortSignal.timeout(30_000),
      });
      const future: BackupArtifact = {
        ...full,
        backupId: 'future-1',
        ...saved,
        compression: 'gzip',
        wrappedKey: wrapDataKey(dataKey, grant.wrappingKey, 'future-1'),
      };
      await writeMeta(fs, future);
      const err = await expectCode(dst.manager.prepare(prepareRequest({ restore: restoreOf(future) }), testOp()), 'FAILED_PRECONDITION');
      expect(err.message).toMatch(/backup future-1 does not hold an RDB file this Redis can load: .*RDB format version 99/);
      await expectNothingLeft(dst);
      expect(await readdir(dst.ctx.dataDir)).toEqual([]);
      rmSync(join(root, src.ctx.instanceId, 'future-1'), { recursive: true });
    });

    it('restores into the fresh instance through prepare: the data as it was at the backup, the instance its own users', async () => {
      const op = testOp();
      await dst.manager.prepare(prepareRequest({ restore: restoreOf(full) }), op);
      const percents = op.steps.map((s) => s.percent);
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      expect(op.steps.map((s) => s.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^fetching and verifying full-1/), 'prepared']));
      expect((await dst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);

      expect(await snapshot(dst)).toEqual(atBackup);
      const c = await adminClient(dst);
      try {
        expect(await cmd(c, 'EXISTS', 'late:0', 'late:299')).toBe(0);
        expect(await cmd(c, 'SISMEMBER', 'big:set', 'm5')).toBe(1);
        const ttl = Number(await cmd(c, 'TTL', 'ttl:10'));
        expect(ttl).toBeGreaterThan(3000);
        expect(ttl).toBeLessThanOrEqual(3610);
      } finally {
        await c.close();
      }

      // An RDB has no users: the restored instance has only its own admin (with its own password) and no "app".
      expect((await dst.manager.users.list({ limit: 0, marker: '' }, testOp())).users).toEqual([]);
      expect(await dst.ctx.secrets.get(ADMIN_SECRET)).not.toBe(await src.ctx.secrets.get(ADMIN_SECRET));
      expect((await dst.manager.root.status(testOp())).enabled).toBe(false);
      const marker = JSON.parse(await readFile(redisPaths(dst.ctx).preparedMarker, 'utf8'));
      expect(marker.restoredFrom).toBe('full-1');
    });

    it('persists the restored data in the AOF, as the configuration says: it survives a restart without dump.rdb', async () => {
      const p = await persistence(dst);
      expect(p).toMatchObject({ aof_enabled: '1', aof_last_write_status: 'ok' });
      const layout = aofLayout(dst.ctx.dataDir);
      const manifest = await readFile(layout.manifest, 'utf8');
      expect(manifest).toContain(`file ${BASE_NAME} seq 1 type b`);
      expect(manifest).toMatch(/type i/); // the server took the AOF over and opened its incremental file
      const c = await adminClient(dst);
      try {
        await cmd(c, 'SET', 'after-restore', 'kept');
      } finally {
        await c.close();
      }
      const before = await snapshot(dst);
      expect(before.keys).toBe(atBackup.keys + 1);

      const op = testOp();
      await dst.manager.stop(op);
      // Without the snapshot the shutdown wrote, only the AOF can bring the data back.
      await rm(join(dst.ctx.dataDir, 'dump.rdb'), { force: true });
      await dst.manager.start(op);
      expect(await snapshot(dst)).toEqual(before);
      expect((await persistence(dst)).aof_enabled).toBe('1');
    });
  });
}
