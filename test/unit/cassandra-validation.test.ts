import { describe, expect, it } from 'vitest';
import { StewardError } from '../../managers/sdk/errors.js';
import type { Database, PrepareRequest, User } from '../../managers/sdk/types.js';
import { cassandraRules as v, cassandraValidator, checkReplication, checkSeeds, cqlString, quoteCqlIdent } from '../../managers/cassandra/validation.js';
import { replicationLiteral, defaultReplication } from '../../managers/cassandra/topology.js';
import { cassandraIdentity } from '../../managers/cassandra/identity.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { PrepareRequest as PrepareCheck } from '../../managers/sdk/types.js';

/** A prepare request checked as the agent and the controller check it: through the operations table. */
const checkPrepareRequest = (r: PrepareCheck) => checkCommand(payload('prepare', r), cassandraIdentity);

const user = (over: Partial<User> = {}): User => ({ name: 'alice', host: '', password: 'pw', access: [], permissions: '', ...over });
const ks = (name: string, replication: Record<string, number> = {}): Database => ({ name, characterSet: '', collation: '', ctype: '', replication });

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StewardError);
    expect((err as StewardError).code).toBe('INVALID_ARGUMENT');
    return (err as StewardError).field;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('cassandra role names', () => {
  it.each(['alice', 'A', '_svc', '9lives', 'app.reader', 'app-writer', 'x'.repeat(64), 'Root2'])('accepts %j', (name) => {
    expect(() => v.user(user({ name }), 'user')).not.toThrow();
  });

  it.each(['', 'x'.repeat(65), '.hidden', '-opt', 'cassandra', 'Cassandra', 'steward_admin', 'root', 'ROOT', 'a"b', "a'b", 'a b', 'a;b', 'ünï', 'a\0b'])(
    'refuses %j, naming the field',
    (name) => {
      expect(fieldOf(() => v.user(user({ name }), 'users[3]'))).toBe('users[3].name');
      expect(fieldOf(() => v.userRef({ name, host: '' }, 'user'))).toBe('user.name');
    },
  );

  it('takes no host restriction (empty or "%" only) and no permissions string', () => {
    expect(() => v.userRef({ name: 'alice', host: '%' }, 'user')).not.toThrow();
    expect(fieldOf(() => v.userRef({ name: 'alice', host: 'localhost' }, 'user'))).toBe('user.host');
    expect(fieldOf(() => v.user(user({ permissions: 'read-only' }), 'u'))).toBe('u.permissions');
  });

  it('passwords: printable ASCII, 1 to 256 characters', () => {
    expect(() => v.password(`it's "quoted" \\ $$`, 'password')).not.toThrow();
    for (const bad of ['', 'x'.repeat(257), 'new\nline', 'nul\0', 'ünï']) expect(fieldOf(() => v.password(bad, 'password'))).toBe('password');
  });

  it('refuses duplicate roles and keyspaces in one request', () => {
    expect(fieldOf(() => cassandraValidator.users([user(), user()], 'users'))).toBe('users[1]');
    expect(fieldOf(() => v.user(user({ access: [{ database: 'a' }, { database: 'a' }] }), 'u'))).toBe('u.access[1]');
  });
});

describe('cassandra keyspace names', () => {
  it.each(['app', 'App', '_x', '9', 'a_b_c', 'x'.repeat(48)])('accepts %j', (name) => {
    expect(() => v.database(ks(name), 'db')).not.toThrow();
  });

  it.each(['', 'x'.repeat(49), 'system', 'system_auth', 'SYSTEM_x', 'systemic', 'a-b', 'a.b', 'a b', 'a"b', "a'b", 'ä'])('refuses %j', (name) => {
    expect(fieldOf(() => v.database(ks(name), 'databases[1]'))).toBe('databases[1].name');
    expect(fieldOf(() => v.databaseName(name, 'name'))).toBe('name');
  });

  it('has no character set, collation or ctype', () => {
    expect(fieldOf(() => v.database({ ...ks('a'), characterSet: 'utf8' }, 'd'))).toBe('d.character_set');
    expect(fieldOf(() => v.database({ ...ks('a'), collation: 'x' }, 'd'))).toBe('d.collation');
    expect(fieldOf(() => v.database({ ...ks('a'), ctype: 'x' }, 'd'))).toBe('d.ctype');
  });

  it('keyspace names are case-sensitive: App and app may both be asked for', () => {
    expect(() => cassandraValidator.databases([ks('App'), ks('app')], 'databases')).not.toThrow();
    expect(fieldOf(() => cassandraValidator.databases([ks('app'), ks('app')], 'databases'))).toBe('databases[1]');
  });
});

describe('replication factors per data center', () => {
  it('accepts 1 to 10 per valid data center name', () => {
    expect(checkReplication({ dc1: 1, 'eu-west.2': 10 }, 'r')).toEqual({ dc1: 1, 'eu-west.2': 10 });
    expect(checkReplication({}, 'r')).toEqual({});
  });

  it.each([
    [{ dc1: 0 }, 'r.dc1'],
    [{ dc1: 11 }, 'r.dc1'],
    [{ dc1: 1.5 }, 'r.dc1'],
    [{ dc1: -1 }, 'r.dc1'],
    [{ "dc1'": 1 }, 'r'],
    [{ "dc1': 1, 'class": 3 }, 'r'],
    [{ '': 1 }, 'r'],
  ])('refuses %j', (replication, field) => {
    expect(fieldOf(() => checkReplication(replication, 'r'))).toBe(field);
  });

  it('renders NetworkTopologyStrategy and caps the default at three replicas per data center', () => {
    expect(replicationLiteral({ dc1: 3, dc2: 1 })).toBe("{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1}");
    const topology = {
      localDataCenter: 'dc1',
      nodes: new Map([
        ['dc1', 5],
        ['dc2', 2],
      ]),
    };
    expect(defaultReplication(topology)).toEqual({ dc1: 3, dc2: 2 });
  });
});

describe('seeds', () => {
  it('accepts addresses and host names, with or without a port', () => {
    expect(() => checkSeeds(['127.0.0.1', '10.0.0.2:7000', 'node-1.example.com', '::1', '[fe80::1]:7000'], 's')).not.toThrow();
  });

  it.each([[[]], [['a b']], [['127.0.0.1:0']], [['127.0.0.1:70000']], [['x,y']], [["'"]], [['127.0.0.1', '127.0.0.1']]])('refuses %j', (seeds) => {
    expect(fieldOf(() => checkSeeds(seeds, 'seeds'))).toMatch(/^seeds/);
  });
});

describe('CQL quoting', () => {
  it('doubles the quote character and nothing else', () => {
    expect(quoteCqlIdent('App')).toBe('"App"');
    expect(quoteCqlIdent('a"b')).toBe('"a""b"');
    expect(cqlString(`it's \\ "x"`)).toBe(`'it''s \\ "x"'`);
  });

  it('refuses control characters outright', () => {
    expect(() => cqlString('a\nb')).toThrow(StewardError);
    expect(() => quoteCqlIdent('a\0b')).toThrow(StewardError);
  });
});

describe('cassandra prepare requests', () => {
  const req = (over: Partial<PrepareRequest> = {}): PrepareRequest => ({
    memoryMb: 0,
    port: 0,
    bindAddress: '',
    databases: [],
    users: [],
    cluster: undefined,
    restore: undefined,
    replicaOf: undefined,
    configuration: {},
    ...over,
  });
  const member = (over: Partial<NonNullable<PrepareRequest['cluster']>> = {}): NonNullable<PrepareRequest['cluster']> => ({
    clusterId: 'c1',
    clusterName: 'ring',
    seeds: ['10.0.0.1'],
    autoBootstrap: false,
    dataCenter: 'dc1',
    rack: 'rack1',
    adminUser: 'steward_admin',
    adminPassword: 'pw',
    secureCluster: false,
    ...over,
  });

  it('access must name a keyspace being created', () => {
    expect(fieldOf(() => checkPrepareRequest(req({ databases: [ks('a')], users: [user({ access: [{ database: 'b' }] })] })))).toBe(
      'users[0].access[0].database',
    );
    expect(() => checkPrepareRequest(req({ databases: [ks('a')], users: [user({ access: [{ database: 'a' }] })] }))).not.toThrow();
  });

  it('checks the cluster membership', () => {
    expect(() => checkPrepareRequest(req({ cluster: member() }))).not.toThrow();
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ seeds: ['bad seed'] }) })))).toBe('cluster.seeds[0]');
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ dataCenter: "dc'1" }) })))).toBe('cluster.data_center');
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ rack: 'r=1' }) })))).toBe('cluster.rack');
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ clusterName: "x'; DROP" }) })))).toBe('cluster.cluster_name');
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ adminPassword: '' }) })))).toBe('cluster.admin_password');
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ adminUser: 'cassandra' }) })))).toBe('cluster.admin_user');
    expect(fieldOf(() => checkPrepareRequest(req({ cluster: member({ adminUser: 'a"b' }) })))).toBe('cluster.admin_user');
    // Keyspaces and roles need someone able to create them.
    expect(fieldOf(() => checkPrepareRequest(req({ databases: [ks('a')], cluster: member({ adminUser: '', adminPassword: '' }) })))).toBe('cluster');
  });
});

describe('cassandra identity', () => {
  it('declares its capabilities, resize among them; a resize is checked through the operations table', () => {
    expect(cassandraIdentity.capabilities).toEqual(['users', 'databases', 'root', 'cluster', 'backup', 'configuration', 'logs', 'resize']);
    expect(() => checkCommand(payload('resize', { memoryMb: 2048, oldMemoryMb: 1024 }), cassandraIdentity)).not.toThrow();
    expect(fieldOf(() => checkCommand(payload('resize', { memoryMb: 64, oldMemoryMb: 1024 }), cassandraIdentity))).toBe('memory_mb');
  });
});
