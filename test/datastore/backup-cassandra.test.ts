// Cassandra backups end to end at the datastore level: a real 5.0 node started
// by the agent's process backend, a snapshot streamed through the real
// pipeline, and a restore through prepare into a fresh node, compared with the
// source by content (row counts and a digest of each table's rows in read
// order), never by "the command succeeded". One source and one destination
// node serve the file: JVM start-ups are the slow part on 2 cores.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, concurrent } from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type BackupStorage } from '../../proto/gen/steward/v1/backups.js';
import { DatastoreStatus, type PrepareRequest } from '../../managers/sdk/types.js';
import { ADMIN_PASSWORD_SECRET, cassandraPaths } from '../../managers/cassandra/paths.js';
import { leftoverTags } from '../../managers/cassandra/snapshot.js';
import { cassandraUnavailableReason, createCassandraNode, testOp, type CassandraNode } from '../fixtures/cassandra-instance.js';
import { flippedCopy, tempStore, testGrant } from '../fixtures/backup-storage.js';
import { expectCode } from '../fixtures/datastore-assertions.js';
import { payload } from '../../managers/sdk/operations/payload.js';

const reason = await cassandraUnavailableReason();
if (reason) console.warn(`\n*** SKIPPED: cassandra backup tests cannot run here: ${reason} ***\n`);

// Addresses of their own: cassandra.test.ts uses 127.0.0.10, the ring test 127.0.0.1-4,
// and the local provisioner (e2e tests) hands out 127.0.0.x from the bottom.
const SRC_ADDRESS = '127.0.3.21';
const DST_ADDRESS = '127.0.3.22';

const EMPTY_PREPARE: PrepareRequest = {
  memoryMb: 0,
  port: 0,
  bindAddress: '',
  databases: [],
  users: [],
  cluster: undefined,
  restore: undefined,
  replicaOf: undefined,
  configuration: {},
};
const TABLES = ['"Audit".events', '"Audit".hits', 'shop."Empty"', 'shop.items', 'shop.orders'] as const;

type Snapshot = Record<string, { rows: number; content: string }>;

/** A value in a stable printable form (driver types print themselves; UDTs and maps are plain objects). */
function encode(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return `0x${v.toString('hex')}`;
  if (Array.isArray(v)) return v.map(encode);
  if (typeof v === 'object' && (v as object).constructor === Object) {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, encode(x)]),
    );
  }
  return typeof v === 'object' ? String(v) : v;
}

describe.skipIf(!!reason)('Cassandra backup and restore (snapshot, nodetool import, process backend)', () => {
  let src: CassandraNode;
  let dst: CassandraNode;
  let root: string;
  let storage: BackupStorage;
  let full: BackupArtifact;
  let atBackup: Snapshot;
  let afterBackup: Snapshot;
  const clients: Client[] = [];
  const grant = testGrant();

  async function admin(node: CassandraNode): Promise<Client> {
    const c = new Client({
      contactPoints: [`${node.address}:${node.port}`],
      localDataCenter: 'dc1',
      credentials: { username: 'steward_admin', password: (await node.ctx.secrets.get(ADMIN_PASSWORD_SECRET))! },
      socketOptions: { readTimeout: 60_000 },
    });
    await c.connect();
    clients.push(c);
    return c;
  }

  /** Every user table: row count and a sha256 of its rows as read (token order, then clustering order). */
  async function snapshot(node: CassandraNode): Promise<Snapshot> {
    const c = await admin(node);
    const out: Snapshot = {};
    for (const table of TABLES) {
      const hash = createHash('sha256');
      let rows = 0;
      // The driver's ResultStream is a Readable that fetches the next page as it is read.
      const rs = c.stream(`SELECT * FROM ${table}`, [], { fetchSize: 500 }) as unknown as AsyncIterable<Record<string, unknown>>;
      for await (const r of rs) {
        hash.update(
          `${JSON.stringify(
            Object.keys(r)
              .sort()
              .map((k) => [k, encode(r[k])]),
          )}\n`,
        );
        rows++;
      }
      out[table] = { rows, content: hash.digest('hex') };
    }
    return out;
  }

  /** Table ids and columns: the restore keeps both (schema.cql's WITH ID, dropped columns included). */
  async function schemaOf(node: CassandraNode): Promise<unknown> {
    const c = await admin(node);
    const q = async (cql: string) =>
      (await c.execute(cql)).rows
        .filter((r) => ['shop', 'Audit'].includes(String(r.keyspace_name)))
        .map((r) => JSON.stringify(encode(Object.fromEntries(Object.entries(r)))))
        .sort();
    return {
      tables: await q('SELECT keyspace_name, table_name, id FROM system_schema.tables'),
      columns: await q('SELECT keyspace_name, table_name, column_name, type, kind FROM system_schema.columns'),
      dropped: await q('SELECT keyspace_name, table_name, column_name FROM system_schema.dropped_columns'),
      indexes: await q('SELECT keyspace_name, table_name, index_name FROM system_schema.indexes'),
      types: await q('SELECT keyspace_name, type_name, field_names FROM system_schema.types'),
    };
  }

  const restoreCommand = (artifact: BackupArtifact) => ({ storage, chain: [{ artifact, key: grant }] });
  const _backup = (backupId: string, type = BackupType.FULL, parent?: BackupArtifact) =>
    src.manager.backup.create({ backupId, type, parent, storage, key: grant, compression: 'zstd' }, testOp());

  beforeAll(async () => {
    ({ root, storage } = tempStore('steward-cbkstore-'));
    [src, dst] = await Promise.all([
      createCassandraNode({ address: SRC_ADDRESS, name: 'backup-src' }),
      createCassandraNode({ address: DST_ADDRESS, name: 'backup-dst' }),
    ]);
    await src.manager.prepare(EMPTY_PREPARE, testOp());
    const c = await admin(src);
    await c.execute("CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}");
    await c.execute("CREATE KEYSPACE \"Audit\" WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1} AND durable_writes = false");
    await c.execute('CREATE TYPE shop.addr (street text, "Zip" int)');
    // A comment with a semicolon and a line break: schema.cql must be split by a CQL reader, not by lines.
    await c.execute(
      "CREATE TABLE shop.items (id int PRIMARY KEY, name text, body blob, price decimal, home frozen<addr>, gone text) WITH comment = 'items; all of them\nreally'",
    );
    await c.execute("CREATE INDEX items_name ON shop.items (name) USING 'sai'");
    await c.execute(
      'CREATE TABLE shop.orders (customer text, placed int, qty int, note text, PRIMARY KEY (customer, placed)) WITH CLUSTERING ORDER BY (placed DESC)',
    );
    await c.execute('CREATE TABLE shop."Empty" (k int PRIMARY KEY)');
    await c.execute('CREATE TABLE "Audit".events (day text, seq int, msg text, tags set<text>, attrs map<text, int>, PRIMARY KEY (day, seq))');
    await c.execute('CREATE TABLE "Audit".hits (page text PRIMARY KEY, n counter)');
    const items = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => {
        const id = from + i;
        return [id, `item-${id}`, randomBytes(64), `${(id % 997) + 0.5}`, { street: `street ${id % 13}`, Zip: 1000 + (id % 89) }, `gone-${id}`];
      });
    const insertItem = 'INSERT INTO shop.items (id, name, body, price, home, gone) VALUES (?, ?, ?, ?, ?, ?)';
    await concurrent.executeConcurrent(c, insertItem, items(0, 2000), { concurrencyLevel: 64 });
    const orders = Array.from({ length: 2000 }, (_, i) => [`customer-${i % 20}`, i, (i % 7) + 1, i % 3 ? null : `note ${i}`]);
    await concurrent.executeConcurrent(c, 'INSERT INTO shop.orders (customer, placed, qty, note) VALUES (?, ?, ?, ?)', orders, { concurrencyLevel: 64 });
    // A first sstable; what follows (deletes, a dropped column, more rows) lands in a second one at the snapshot.
    await src.nodetool(['flush']);
    await concurrent.executeConcurrent(
      c,
      'DELETE FROM shop.items WHERE id = ?',
      Array.from({ length: 40 }, (_, i) => [i * 50]),
      { concurrencyLevel: 16 },
    );
    await c.execute('ALTER TABLE shop.items DROP gone');
    await concurrent.executeConcurrent(
      c,
      'INSERT INTO shop.items (id, name, body, price, home) VALUES (?, ?, ?, ?, ?)',
      items(2000, 3000).map((r) => r.slice(0, 5)),
      {
        concurrencyLevel: 64,
      },
    );
    const events = Array.from({ length: 1000 }, (_, i) => [
      `2024-01-${String((i % 10) + 1).padStart(2, '0')}`,
      i,
      `event ${i}`,
      [`t${i % 3}`, `u${i % 5}`],
      { a: i, b: i % 7 },
    ]);
    await concurrent.executeConcurrent(c, 'INSERT INTO "Audit".events (day, seq, msg, tags, attrs) VALUES (?, ?, ?, ?, ?)', events, { concurrencyLevel: 64 });
    for (let round = 0; round < 2; round++) {
      await concurrent.executeConcurrent(
        c,
        'UPDATE "Audit".hits SET n = n + ? WHERE page = ?',
        Array.from({ length: 50 }, (_, i) => [i + round, `/page/${i}`]),
        {
          concurrencyLevel: 16,
        },
      );
    }
  });

  afterAll(async () => {
    for (const c of clients) await c.shutdown().catch(() => undefined);
    await Promise.all([src?.teardown(), dst?.teardown()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('makes a full backup of the user keyspaces: stored, checksummed, the snapshot cleared', async () => {
    atBackup = await snapshot(src);
    expect(atBackup['shop.items'].rows).toBe(2960);
    expect(atBackup['shop.orders'].rows).toBe(2000);
    expect(atBackup['"Audit".events'].rows).toBe(1000);
    expect(atBackup['"Audit".hits'].rows).toBe(50);
    expect(atBackup['shop."Empty"'].rows).toBe(0);
    // A snapshot an interrupted backup left behind is cleared; an operator's own snapshot is not ours to touch.
    await src.nodetool(['snapshot', '-t', 'steward-crashed', '--', 'shop']);
    await src.nodetool(['snapshot', '-t', 'by-hand', '--', 'Audit']);
    const op = testOp();
    full = await src.manager.backup.create({ backupId: 'full-1', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'zstd' }, op);
    expect(full).toMatchObject({ datastore: 'cassandra', type: BackupType.FULL, parentId: '', instanceId: src.ctx.instanceId });
    expect(full.datastoreVersion).toMatch(/^5\.0\./);
    expect(full.facts).toMatchObject({
      cassandra_version: full.datastoreVersion,
      keyspaces: 'Audit,shop',
      tables: 'Audit.events,Audit.hits,shop.Empty,shop.items,shop.orders',
      snapshot_tag: 'steward-full-1',
      data_center: 'dc1',
    });
    expect(full.rawSize).toBeGreaterThan(full.size); // zstd on a tar of sstables and schema text
    expect(readFileSync(join(root, src.ctx.instanceId, 'full-1', 'data')).length).toBe(full.size);
    const meta = JSON.parse(readFileSync(join(root, src.ctx.instanceId, 'full-1', 'meta.json'), 'utf8'));
    expect(meta).toMatchObject({ backupId: 'full-1', checksum: full.checksum, type: 'BACKUP_TYPE_FULL', datastore: 'cassandra' });
    const percents = op.steps.map((s) => s.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(op.steps.at(-1)?.percent).toBe(100);
    expect(op.steps.some((s) => /^streaming: /.test(s.message))).toBe(true);
    // The snapshot's hard links are gone, and so is the work directory.
    expect(await leftoverTags(cassandraPaths(src.ctx).dataFiles)).toEqual([]);
    expect(readdirSync(src.dir)).not.toContain('backup-work');
    expect(await src.nodetool(['listsnapshots'])).toMatch(/by-hand/);
    await src.nodetool(['clearsnapshot', '-t', 'by-hand']);
  });

  it('a cancelled backup leaves neither objects nor its snapshot', async () => {
    const abort = new AbortController();
    const op = testOp(abort.signal);
    const progress = op.progress;
    op.progress = (p, m) => {
      progress(p, m);
      if (m.startsWith('streaming')) abort.abort();
    };
    await expectCode(
      src.manager.backup.create({ backupId: 'cancelled-1', type: BackupType.FULL, parent: undefined, storage, key: grant, compression: 'gzip' }, op),
      'CANCELLED',
    );
    expect(readdirSync(join(root, src.ctx.instanceId))).toEqual(['full-1']);
    expect(await leftoverTags(cassandraPaths(src.ctx).dataFiles)).toEqual([]);
  });

  it('refuses an incremental backup before anything is written', async () => {
    const req = { backupId: 'incr-1', type: BackupType.INCREMENTAL, parent: full, storage, key: grant, compression: 'zstd' };
    const err = await expectCode(src.run(payload('createBackup', req)), 'FAILED_PRECONDITION');
    expect(err.message).toMatch(/does not support incremental backups/);
    expect(readdirSync(join(root, src.ctx.instanceId))).toEqual(['full-1']);

    // Rows written after the backup must not come back with it.
    const c = await admin(src);
    await c.execute("INSERT INTO shop.items (id, name, price) VALUES (999999, 'after the backup', 1.0)");
    await c.execute('INSERT INTO shop."Empty" (k) VALUES (7)');
    await c.execute("DELETE FROM shop.orders WHERE customer = 'customer-3'");
    await c.execute('UPDATE "Audit".hits SET n = n + 1000 WHERE page = \'/page/1\'');
    afterBackup = await snapshot(src);
    expect(afterBackup['shop.items'].rows).toBe(2961);
  });

  it('refuses a restore together with keyspaces, roles or cluster membership, naming the field', async () => {
    const restore = restoreCommand(full);
    const cases: Array<[Partial<PrepareRequest>, string]> = [
      [{ databases: [{ name: 'extra', characterSet: '', collation: '', ctype: '', replication: {} }] }, 'databases'],
      [{ users: [{ name: 'alice', host: '', password: 'pw', access: [], permissions: '' }] }, 'users'],
      [
        {
          cluster: {
            clusterId: 'c1',
            clusterName: 'ring',
            seeds: [],
            dataCenter: '',
            rack: '',
            autoBootstrap: false,
            adminUser: '',
            adminPassword: '',
            secureCluster: true,
          },
        },
        'cluster',
      ],
    ];
    for (const [extra, field] of cases) {
      await expectCode(dst.agent.prepare({ ...EMPTY_PREPARE, ...extra, restore }, testOp()), 'INVALID_ARGUMENT', field);
    }
    expect(await dst.manager.isPrepared()).toBe(false);
  });

  it('refuses a backup with a flipped byte in storage: no node, no prepared marker', async () => {
    const dir = join(root, src.ctx.instanceId);
    const broken = flippedCopy(root, full, 'full-flip');
    const err = await expectCode(dst.manager.prepare({ ...EMPTY_PREPARE, restore: restoreCommand(broken) }, testOp()), 'FAILED_PRECONDITION');
    expect(err.message).toMatch(/backup full-1 is corrupt or incomplete in storage: checksum sha256:[0-9a-f]+ does not match the recorded/);
    expect(await dst.manager.isPrepared()).toBe(false);
    expect((await dst.manager.probe()).status).toBe(DatastoreStatus.NEW);
    expect(readdirSync(dst.dir)).not.toContain('restore-staging');

    // The same object with a checksum recorded to match: verified, but it does not decrypt. Refused before a node starts.
    const sha = `sha256:${createHash('sha256')
      .update(readFileSync(join(dir, 'full-flip', 'data')))
      .digest('hex')}`;
    const forged = await expectCode(
      dst.manager.prepare({ ...EMPTY_PREPARE, restore: restoreCommand({ ...broken, checksum: sha }) }, testOp()),
      'FAILED_PRECONDITION',
    );
    expect(forged.message).toMatch(/backup data does not decrypt/);
    expect(await dst.manager.isPrepared()).toBe(false);
    expect((await dst.manager.probe()).status).toBe(DatastoreStatus.NEW); // not even configured: the unpack comes first
    expect(readdirSync(dst.ctx.dataDir)).not.toContain('restore');
    expect(readdirSync(dst.dir)).not.toContain('restore-staging');
    rmSync(join(dir, 'full-flip'), { recursive: true });
  });

  it('restores into a fresh node through prepare: the data as it was at the backup, table ids kept', async () => {
    const op = testOp();
    await dst.manager.prepare({ ...EMPTY_PREPARE, restore: restoreCommand(full) }, op);
    const percents = op.steps.map((s) => s.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(op.steps.at(-1)).toEqual({ percent: 100, message: 'prepared' });
    expect(op.steps.map((s) => s.message)).toContain('importing shop.items');
    expect(await dst.manager.isPrepared()).toBe(true);
    expect((await dst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);

    const restored = await snapshot(dst);
    expect(restored).toEqual(atBackup);
    expect(restored).not.toEqual(afterBackup);
    expect(await schemaOf(dst)).toEqual(await schemaOf(src));
    const c = await admin(dst); // the node's own admin role: system_auth is not restored
    expect((await c.execute("SELECT id FROM shop.items WHERE name = 'item-2500'")).rows.map((r) => r.id)).toEqual([2500]); // SAI index
    expect((await c.execute('SELECT id FROM shop.items WHERE id = 999999')).rows).toEqual([]);
    expect((await c.execute("SELECT durable_writes FROM system_schema.keyspaces WHERE keyspace_name = 'Audit'")).rows[0].durable_writes).toBe(false);
    expect(readdirSync(dst.dir)).not.toContain('restore-staging');
    expect(readdirSync(dst.ctx.dataDir)).not.toContain('restore');
    // Restored tables take writes like any other.
    await c.execute("INSERT INTO shop.items (id, name) VALUES (424242, 'after the restore')");
    expect((await c.execute('SELECT name FROM shop.items WHERE id = 424242')).rows[0].name).toBe('after the restore');
  });

  it('a restore into a prepared node is refused', async () => {
    const err = await expectCode(dst.manager.prepare({ ...EMPTY_PREPARE, restore: restoreCommand(full) }, testOp()), 'FAILED_PRECONDITION');
    expect(err.message).toMatch(/already prepared/);
  });
});
