// The Cassandra backup strategy's pure parts: reading a snapshot's schema.cql,
// what it may contain, the manifest inside the tar, and the requests a restore
// refuses before anything is touched.
import { describe, expect, it } from 'vitest';
import type { ManagerContext } from '../../managers/sdk/contract.js';
import { BackupType, type BackupArtifact } from '../../managers/sdk/backup/types.js';
import type { PrepareRequest } from '../../managers/sdk/types.js';
import { packCommand, unpackCommand } from '../../managers/cassandra/archive.js';
import { cassandraBackupOps } from '../../managers/cassandra/backup.js';
import { MANIFEST_FORMAT, manifestFacts, parseManifest, snapshotDir, snapshotTag, type BackupManifest } from '../../managers/cassandra/backup-manifest.js';
import { checkSchemaStatement, splitCql, unquoteIdent } from '../../managers/cassandra/cql-script.js';
import { CASSANDRA_CAPABILITIES, cassandraIdentity } from '../../managers/cassandra/identity.js';
import { checkRestoreChain } from '../../managers/cassandra/restore.js';
import { expectCode, thrown } from '../fixtures/datastore-assertions.js';
import { checkCommand, runCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { AgentManager } from '../../managers/sdk/contract.js';

/** What Cassandra 5.0 writes into a snapshot (shortened), with a comment holding a ';' and a line break. */
const SCHEMA_CQL = `CREATE TYPE IF NOT EXISTS shop.addr (
    street text,
    "Zip" int
);
CREATE TABLE IF NOT EXISTS shop.items (
    id int PRIMARY KEY,
    home frozen<addr>,
    gone text
) WITH ID = b905ff60-e98b-11f1-87b6-35cd5af01e70
    AND comment = 'it''s; a
test'
    AND speculative_retry = '99p';
ALTER TABLE shop.items DROP gone USING TIMESTAMP 1795692136674000;
CREATE CUSTOM INDEX IF NOT EXISTS items_name ON shop.items (name) USING 'sai';
`;

const artifact = (over: Partial<BackupArtifact> = {}): BackupArtifact => ({
  backupId: 'b1',
  instanceId: 'i1',
  datastore: 'cassandra',
  datastoreVersion: '5.0.9',
  type: BackupType.FULL,
  parentId: '',
  size: 1,
  rawSize: 1,
  checksum: `sha256:${'0'.repeat(64)}`,
  location: 'file:///x/i1/b1/data',
  compression: 'zstd',
  encryption: '',
  wrappedKey: Buffer.alloc(0),
  keyRef: '',
  facts: {},
  createdAt: '',
  finishedAt: '',
  ...over,
});

describe('schema.cql', () => {
  it('splits into statements; semicolons in strings, quoted names, $$ blocks and comments do not end one', () => {
    const stmts = splitCql(SCHEMA_CQL);
    expect(stmts).toHaveLength(4);
    expect(stmts[1]).toMatch(/^CREATE TABLE IF NOT EXISTS shop\.items \(/);
    expect(stmts[1]).toContain("comment = 'it''s; a\ntest'");
    expect(stmts[2]).toBe('ALTER TABLE shop.items DROP gone USING TIMESTAMP 1795692136674000');
    expect(splitCql('CREATE TABLE "a;""b".t (x int); -- a comment; with semicolons\n/* more; */ CREATE TYPE k.t (s text)')).toEqual([
      'CREATE TABLE "a;""b".t (x int)',
      'CREATE TYPE k.t (s text)',
    ]);
    expect(splitCql('x = $$ a; b $$ ; // tail;\n ;; y')).toEqual(['x = $$ a; b $$', 'y']);
    expect(splitCql('  \n')).toEqual([]);
  });

  it('refuses text that does not end where it should', () => {
    for (const text of ["CREATE TABLE k.t (x int) WITH comment = 'open", 'CREATE TABLE "k.t (x int)', '/* open', 'x = $$ open']) {
      expect(thrown(() => splitCql(text)).code, text).toBe('FAILED_PRECONDITION');
    }
  });

  it('accepts the statement kinds a snapshot holds, on its own keyspace', () => {
    for (const stmt of splitCql(SCHEMA_CQL)) expect(() => checkSchemaStatement(stmt, 'shop')).not.toThrow();
    expect(() => checkSchemaStatement('CREATE TABLE IF NOT EXISTS "Audit".events (day text PRIMARY KEY)', 'Audit')).not.toThrow();
    expect(() => checkSchemaStatement('CREATE TABLE SHOP.t (k int PRIMARY KEY)', 'shop')).not.toThrow(); // unquoted names fold
    expect(() => checkSchemaStatement('CREATE INDEX ON shop.items (name)', 'shop')).not.toThrow();
    expect(() => checkSchemaStatement('create index if not exists by_name on "shop" . items (name)', 'shop')).not.toThrow();
  });

  it.each([
    ['DROP KEYSPACE shop', 'shop'],
    ["CREATE ROLE evil WITH PASSWORD = 'x' AND SUPERUSER = true", 'shop'],
    ['GRANT ALL PERMISSIONS ON ALL KEYSPACES TO evil', 'shop'],
    ['ALTER KEYSPACE system_auth WITH durable_writes = false', 'shop'],
    ['CREATE TABLE system_auth.t (k int PRIMARY KEY)', 'shop'],
    ['CREATE TABLE "Shop".t (k int PRIMARY KEY)', 'shop'],
    ['CREATE TABLE shopx.t (k int PRIMARY KEY)', 'shop'],
    ['ALTER TABLE other.items DROP gone', 'shop'],
    ['CREATE INDEX i ON other.items (name)', 'shop'],
    ['CREATE TABLE t (k int PRIMARY KEY)', 'shop'],
    ['TRUNCATE shop.items', 'shop'],
  ])('refuses %j in the schema of %s', (stmt, ks) => {
    expect(thrown(() => checkSchemaStatement(stmt, ks)).code).toBe('FAILED_PRECONDITION');
  });

  it('reads identifiers as the server does', () => {
    expect(unquoteIdent('Shop')).toBe('shop');
    expect(unquoteIdent('"Shop"')).toBe('Shop');
    expect(unquoteIdent('"a""b"')).toBe('a"b');
  });
});

describe('backup manifest', () => {
  const manifest = (over: Partial<BackupManifest> = {}): BackupManifest => ({
    format: MANIFEST_FORMAT,
    backupId: 'b1',
    snapshotTag: snapshotTag('b1'),
    cassandraVersion: '5.0.9',
    dataCenter: 'dc1',
    keyspaces: [
      {
        name: 'Audit',
        replication: { class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', dc1: '3' },
        durableWrites: false,
        tables: [{ name: 'events', id: '0a1b2c3d-0000-4000-8000-00000000000e' }],
      },
      {
        name: 'shop',
        replication: {},
        durableWrites: true,
        tables: [
          { name: 'items', id: 'b905ff60-e98b-11f1-87b6-35cd5af01e70' },
          { name: 'Empty', id: 'b905ff60-e98b-11f1-87b6-35cd5af01e71' },
        ],
      },
    ],
    ...over,
  });
  const text = (m: unknown) => JSON.stringify(m);

  it('round-trips, with paths in the server layout and facts naming what is inside', () => {
    const m = manifest();
    expect(parseManifest(text(m))).toEqual(m);
    expect(snapshotDir('shop', m.keyspaces[1].tables[0], m.snapshotTag)).toBe('shop/items-b905ff60e98b11f187b635cd5af01e70/snapshots/steward-b1');
    expect(manifestFacts(m)).toEqual({
      cassandra_version: '5.0.9',
      data_center: 'dc1',
      snapshot_tag: 'steward-b1',
      keyspaces: 'Audit,shop',
      tables: 'Audit.events,shop.items,shop.Empty',
    });
  });

  it.each([
    ['not JSON', '{'],
    ['another format', text(manifest({ format: 'other/1' }))],
    ['a tag with a slash', text(manifest({ snapshotTag: '../x' }))],
    ['a system keyspace', text(manifest({ keyspaces: [{ name: 'system_auth', replication: {}, durableWrites: true, tables: [] }] }))],
    ['a keyspace with a slash', text(manifest({ keyspaces: [{ name: 'a/../b', replication: {}, durableWrites: true, tables: [] }] }))],
    [
      'a table with a path in it',
      text(
        manifest({
          keyspaces: [{ name: 'k', replication: {}, durableWrites: true, tables: [{ name: '../../etc', id: '0a1b2c3d-0000-4000-8000-00000000000e' }] }],
        }),
      ),
    ],
    ['a table id that is no UUID', text(manifest({ keyspaces: [{ name: 'k', replication: {}, durableWrites: true, tables: [{ name: 't', id: 'x' }] }] }))],
    ['a keyspace twice', text(manifest({ keyspaces: [manifest().keyspaces[1], manifest().keyspaces[1]] }))],
  ])('refuses a manifest with %s', (_what, body) => {
    expect(thrown(() => parseManifest(body)).code).toBe('FAILED_PRECONDITION');
  });
});

describe('tar command lines', () => {
  it('packs the manifest first, then the snapshot directories after "--"', () => {
    const cmd = packCommand('/work', '/data/data', ['shop/items-x/snapshots/steward-b1']);
    expect(cmd.args).toEqual(['--create', '--file=-', '-C', '/work', 'steward-backup.json', '-C', '/data/data', '--', 'shop/items-x/snapshots/steward-b1']);
    expect(unpackCommand('/data/restore').args).toEqual(['--extract', '--file=-', '--no-same-owner', '-C', '/data/restore']);
  });
});

describe('cassandra restore requests', () => {
  const restore = (...chain: BackupArtifact[]): PrepareRequest['restore'] => ({
    storage: undefined,
    chain: chain.map((a) => ({ artifact: a, key: undefined })),
  });
  const req = (over: Partial<PrepareRequest> = {}): PrepareRequest => ({
    memoryMb: 0,
    port: 0,
    bindAddress: '',
    databases: [],
    users: [],
    cluster: undefined,
    replicaOf: undefined,
    configuration: {},
    restore: restore(artifact()),
    ...over,
  });

  // What the agent and the controller check a prepare through: the operations table.
  const check = (r: PrepareRequest) => checkCommand(payload('prepare', r), cassandraIdentity);

  it('a restore alone is fine', () => {
    expect(() => check(req())).not.toThrow();
    expect(() => checkRestoreChain(req().restore!)).not.toThrow();
  });

  it('refuses keyspaces, roles and cluster membership with a restore, naming the field', () => {
    const ks = { name: 'a', characterSet: '', collation: '', ctype: '', replication: {} };
    const user = { name: 'alice', host: '', password: 'pw', access: [], permissions: '' };
    const cluster = {
      clusterId: 'c1',
      clusterName: 'ring',
      seeds: ['10.0.0.1'],
      autoBootstrap: false,
      dataCenter: 'dc1',
      rack: 'rack1',
      adminUser: 'steward_admin',
      adminPassword: 'pw',
      secureCluster: false,
    };
    const cases: Array<[Partial<PrepareRequest>, string]> = [
      [{ databases: [ks] }, 'databases'],
      [{ users: [user] }, 'users'],
      [{ cluster }, 'cluster'],
    ];
    for (const [over, field] of cases) {
      const err = thrown(() => check(req(over)));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.field).toBe(field);
    }
  });

  it('takes exactly one full Cassandra backup', () => {
    expect(thrown(() => checkRestoreChain(restore()!)).field).toBe('restore.chain');
    expect(thrown(() => checkRestoreChain(restore(artifact({ datastore: 'mysql' }))!)).code).toBe('FAILED_PRECONDITION');
    const incr = artifact({ backupId: 'b2', type: BackupType.INCREMENTAL, parentId: 'b1' });
    const chain = thrown(() => checkRestoreChain(restore(artifact(), incr)!));
    expect(chain.code).toBe('FAILED_PRECONDITION');
    expect(chain.message).toMatch(/full only/);
  });
});

describe('cassandra backup ops', () => {
  it('declares the capability and refuses incrementals before touching the node or storage', async () => {
    expect(CASSANDRA_CAPABILITIES).toContain('backup');
    expect(CASSANDRA_CAPABILITIES).not.toContain('backup_incremental');
    const untouchable = () => {
      throw new Error('must not be reached');
    };
    const ops = cassandraBackupOps({
      ctx: { instanceId: 'i1' } as ManagerContext,
      paths: undefined as never,
      session: untouchable,
      nodetool: untouchable,
      requireRunning: untouchable,
    });
    const manager = { backup: ops } as unknown as AgentManager;
    const req = { backupId: 'b2', type: BackupType.INCREMENTAL, parent: artifact(), storage: undefined, key: undefined, compression: 'zstd' };
    const err = await expectCode(
      runCommand(manager, cassandraIdentity, payload('createBackup', req), { signal: new AbortController().signal, progress: () => undefined }),
      'FAILED_PRECONDITION',
    );
    expect(err.message).toMatch(/does not support incremental backups/);
  });
});
