import { describe, expect, it } from 'vitest';
import { fieldOf } from '../fixtures/datastore-assertions.js';
import { renderMyCnf, tuning } from '../../managers/mysql/config.js';
import { flavourFromVersion } from '../../managers/mysql/flavour.js';
import { ADMIN_USER, checkHost, mysqlRules as v, mysqlValidator } from '../../managers/mysql/validation.js';
import type { User } from '../../managers/sdk/types.js';
import { mysqlIdentity } from '../../managers/mysql/identity.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { PrepareRequest as PrepareCheck } from '../../managers/sdk/types.js';

/** A prepare request checked as the agent and the controller check it: through the operations table. */
const checkPrepareRequest = (r: PrepareCheck) => checkCommand(payload('prepare', r), mysqlIdentity);

const user = (over: Partial<User> = {}): User => ({ name: 'alice', host: '%', password: 'pw', access: [], permissions: '', ...over });

describe('mysql user names', () => {
  it.each(['alice', 'a', '_svc', '9lives', 'app.reader', 'app-writer', 'x'.repeat(32)])('accepts %j', (name) => {
    expect(() => v.user(user({ name }), 'user')).not.toThrow();
  });

  it.each([
    '',
    'x'.repeat(33),
    '.hidden',
    '-opt',
    "x'; DROP DATABASE mysql; --",
    'a`b',
    'a"b',
    'a%',
    'a_%',
    'a b',
    'a@b',
    'a\\b',
    'a\0b',
    'ålice',
    '用户',
    'a\nb',
  ])('refuses %j', (name) => {
    expect(fieldOf(() => v.user(user({ name }), 'users[1]'))).toBe('users[1].name');
  });

  it.each(['root', 'ROOT', 'mysql', 'mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema', 'debian-sys-maint', ADMIN_USER, 'Steward_Admin'])(
    'refuses the reserved user %j, in any case',
    (name) => {
      expect(fieldOf(() => v.userRef({ name, host: '%' }, 'user'))).toBe('user.name');
    },
  );
});

describe('mysql database names', () => {
  it.each(['app', 'App', '_x', '1st', 'a$b', 'a-b', 'a_b', 'x'.repeat(64)])('accepts %j', (name) => {
    expect(() => v.databaseName(name, 'name')).not.toThrow();
  });

  it.each(['', 'x'.repeat(65), '$a', '-a', 'a.b', 'a/b', 'a b', 'a`b', "a'b", 'a%', 'a\0', 'données', '../etc', 'lost+found'])('refuses %j', (name) => {
    expect(fieldOf(() => v.databaseName(name, 'name'))).toBe('name');
  });

  it.each(['mysql', 'MySQL', 'sys', 'information_schema', 'PERFORMANCE_SCHEMA'])('refuses the system database %j', (name) => {
    expect(fieldOf(() => v.databaseName(name, 'name'))).toBe('name');
  });

  it('checks character set and collation names and names the field', () => {
    expect(() => v.database({ name: 'a', characterSet: 'utf8mb4', collation: 'utf8mb4_bin', ctype: '', replication: {} }, 'db')).not.toThrow();
    expect(fieldOf(() => v.database({ name: 'a', characterSet: 'UTF8', collation: '', ctype: '', replication: {} }, 'databases[0]'))).toBe(
      'databases[0].character_set',
    );
    expect(fieldOf(() => v.database({ name: 'a', characterSet: '', collation: "x' OR 1", ctype: '', replication: {} }, 'databases[0]'))).toBe(
      'databases[0].collation',
    );
  });

  it('refuses duplicates in one request', () => {
    const db = { name: 'a', characterSet: '', collation: '', ctype: '', replication: {} };
    expect(fieldOf(() => mysqlValidator.databases([db, { ...db, name: 'b' }, db], 'databases'))).toBe('databases[2]');
  });
});

describe('mysql host patterns', () => {
  it.each([
    ['', '%'],
    ['%', '%'],
    ['localhost', 'localhost'],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.%', '10.0.%'],
    ['192.168.1.%', '192.168.1.%'],
    ['10.0.0.0/255.255.255.0', '10.0.0.0/255.255.255.0'],
    ['::1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:db8:%', '2001:db8:%'],
    ['app.example.com', 'app.example.com'],
    ['%.example.com', '%.example.com'],
    ['db_1', 'db_1'],
  ])('accepts %j', (host, normalised) => {
    expect(checkHost(host, 'user.host')).toBe(normalised);
  });

  it.each([
    "%' OR '1'='1",
    "x'; DROP DATABASE mysql; --",
    'a b',
    'host`',
    'h\0',
    'höst',
    '10.0.0.0/255.0.255.0', // not a contiguous mask
    '10.0.0.0/24', // CIDR is not MySQL syntax
    '10.0.0.0/255.255.255.0/1',
    '300.0.0.1/255.255.255.0',
    '2001:db8::zz',
    'fe80::1%eth0',
    'h'.repeat(256),
  ])('refuses %j', (host) => {
    expect(fieldOf(() => v.userRef({ name: 'alice', host }, 'user'))).toBe('user.host');
  });
});

describe('mysql passwords', () => {
  it('accepts 1 to 128 printable ASCII characters, quotes included', () => {
    expect(() => v.password('x', 'password')).not.toThrow();
    expect(() => v.password(`'"\`\\;%_ ~`.padEnd(128, 'z'), 'password')).not.toThrow();
  });
  it.each(['', 'x'.repeat(129), 'a\0b', 'pä', 'a\nb'])('refuses %j', (pw) => {
    expect(fieldOf(() => v.user(user({ password: pw }), 'users[0]'))).toBe('users[0].password');
  });
});

describe('mysql users in a request', () => {
  it('validates access entries and names their field', () => {
    expect(fieldOf(() => v.user(user({ access: [{ database: 'ok' }, { database: 'bad name' }] }), 'users[0]'))).toBe('users[0].access[1].database');
    expect(fieldOf(() => v.user(user({ access: [{ database: 'mysql' }] }), 'users[0]'))).toBe('users[0].access[0].database');
  });
  it('refuses the same user@host twice, but not the same name on two hosts', () => {
    expect(fieldOf(() => mysqlValidator.users([user(), user({ host: '' })], 'users'))).toBe('users[1]');
    expect(() => mysqlValidator.users([user(), user({ host: 'localhost' })], 'users')).not.toThrow();
  });
  it('prepare refuses access to a database it does not create, before touching anything', () => {
    const req = {
      memoryMb: 0,
      port: 0,
      bindAddress: '',
      cluster: undefined,
      restore: undefined,
      replicaOf: undefined,
      configuration: {},
      databases: [{ name: 'app', characterSet: '', collation: '', ctype: '', replication: {} }],
      users: [user({ access: [{ database: 'other' }] })],
    };
    expect(fieldOf(() => checkPrepareRequest(req))).toBe('users[0].access[0].database');
  });
});

describe('mysql flavour and config', () => {
  it('tells MariaDB from MySQL by VERSION()', () => {
    expect(flavourFromVersion('10.11.6-MariaDB-0+deb12u1')).toBe('mariadb');
    expect(flavourFromVersion('8.0.36')).toBe('mysql');
  });

  it('derives memory settings with a floor for tiny instances', () => {
    expect(tuning(256).innodb_buffer_pool_size).toBe('128M');
    expect(tuning(32).innodb_buffer_pool_size).toBe('32M');
    expect(tuning(8192).innodb_buffer_pool_size).toBe('4096M');
    expect(tuning(256).max_connections).toBeLessThan(tuning(8192).max_connections as number);
  });

  it('renders a self-contained my.cnf', () => {
    const cnf = renderMyCnf({
      flavour: 'mariadb',
      dataDir: '/d',
      port: 3307,
      bindAddress: '127.0.0.1',
      socket: '/r/mysqld.sock',
      pidFile: '/r/mysqld.pid',
      errorLog: '/l/mysqld.err',
      memoryMb: 256,
    });
    expect(cnf).toContain('[mysqld]\ndatadir = /d\nport = 3307\nbind-address = 127.0.0.1\nsocket = /r/mysqld.sock');
    expect(cnf).toContain('\nskip-name-resolve\n');
    expect(cnf).toContain('log_error = /l/mysqld.err');
    expect(cnf).not.toContain('mysqlx'); // MariaDB would refuse to start on an unknown option
    expect(cnf).toContain('[client]');
  });
});
