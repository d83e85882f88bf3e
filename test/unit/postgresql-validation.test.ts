import { join, resolve } from 'node:path';
import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { fieldOf } from '../fixtures/datastore-assertions.js';
import { loadAgentManager, loadOrchestration } from '../../managers/sdk/registry.js';
import postgresqlAgent from '../../managers/postgresql/agent.js';
import postgresqlOrchestration from '../../managers/postgresql/orchestration.js';
import { confValue, renderPostgresqlConf, tuning } from '../../managers/postgresql/config.js';
import { sqlError } from '../../managers/postgresql/connection.js';
import { normaliseLocale } from '../../managers/postgresql/databases.js';
import { hbaAllowsRoot, renderHba } from '../../managers/postgresql/hba.js';
import { pageLimit, pageMarker } from '../../managers/postgresql/paging.js';
import { serviceSpec, pgPaths } from '../../managers/postgresql/paths.js';
import { SCRAM_ITERATIONS, scramVerifier } from '../../managers/postgresql/scram.js';
import { ADMIN_USER, pgRules as v, pgValidator } from '../../managers/postgresql/validation.js';
import type { Database, User } from '../../managers/sdk/types.js';
import { postgresqlIdentity } from '../../managers/postgresql/identity.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { PrepareRequest as PrepareCheck } from '../../managers/sdk/types.js';

/** A prepare request checked as the agent and the controller check it: through the operations table. */
const checkPrepareRequest = (r: PrepareCheck) => checkCommand(payload('prepare', r), postgresqlIdentity);

const user = (over: Partial<User> = {}): User => ({ name: 'alice', host: '', password: 'pw', access: [], permissions: '', ...over });
const db = (over: Partial<Database> = {}): Database => ({ name: 'app', characterSet: '', collation: '', ctype: '', replication: {}, ...over });

describe('postgresql identity', () => {
  it('declares the same name, capabilities and port on both sides', () => {
    for (const m of [postgresqlAgent, postgresqlOrchestration]) {
      expect(m.name).toBe('postgresql');
      expect(m.displayName).toBe('PostgreSQL');
      expect(m.capabilities).toEqual(['users', 'databases', 'root', 'backup', 'backup_incremental', 'replication', 'configuration', 'logs', 'resize']);
      expect(m.defaultPort).toBe(5432);
      expect(m.validator).toBe(pgValidator);
    }
    expect(typeof postgresqlAgent.create).toBe('function');
  });

  it('loads through the registry like any manager folder', async () => {
    const dir = resolve('managers/postgresql');
    expect((await loadAgentManager(dir)).name).toBe('postgresql');
    expect((await loadOrchestration(dir)).rootDescription).toBe(postgresqlOrchestration.rootDescription);
  });

  it('says what root means', () => {
    expect(postgresqlOrchestration.rootDescription).toMatch(/"postgres" superuser/);
    expect(postgresqlOrchestration.rootDescription).toMatch(/shown once/);
    expect(postgresqlOrchestration.rootDescription).toMatch(/Disabling root/);
  });
});

describe('postgresql user and database names', () => {
  const good = ['alice', 'Alice', 'a', '_svc', 'app_reader', 'app-writer', 'a$b', 'x'.repeat(63)];
  const bad = [
    '',
    'x'.repeat(64),
    '1st',
    '$a',
    '-opt',
    "x'; DROP ROLE alice; --",
    'a"b',
    "a'b",
    'a b',
    'a.b',
    'a;b',
    'a\\b',
    'a@b',
    'a\0b',
    'a\nb',
    'ålice',
    '用户',
    '𝓊𝓈𝑒𝓇',
  ];

  it.each(good)('accepts %j', (name) => {
    expect(() => v.user(user({ name }), 'user')).not.toThrow();
    expect(() => v.databaseName(name, 'name')).not.toThrow();
  });

  it.each(bad)('refuses %j and names the field', (name) => {
    expect(fieldOf(() => v.user(user({ name }), 'users[1]'))).toBe('users[1].name');
    expect(fieldOf(() => v.userRef({ name, host: '' }, 'user'))).toBe('user.name');
    expect(fieldOf(() => v.databaseName(name, 'name'))).toBe('name');
    expect(fieldOf(() => v.database(db({ name }), 'databases[0]'))).toBe('databases[0].name');
  });

  it.each([
    'postgres',
    'Postgres',
    'template0',
    'TEMPLATE1',
    ADMIN_USER,
    'Steward_Admin',
    'public',
    'none',
    'all',
    'current_user',
    'session_user',
    'current_role',
    'replication',
    'samerole',
  ])('refuses the reserved name %j, in any case, as user and as database', (name) => {
    expect(fieldOf(() => v.userRef({ name, host: '' }, 'user'))).toBe('user.name');
    expect(fieldOf(() => v.databaseName(name, 'name'))).toBe('name');
  });

  it.each(['pg_monitor', 'pg_signal_backend', 'pg_x', 'PG_x', 'Pg_'])('refuses the PostgreSQL-reserved prefix in %j', (name) => {
    expect(fieldOf(() => v.userRef({ name, host: '' }, 'user'))).toBe('user.name');
    expect(fieldOf(() => v.databaseName(name, 'name'))).toBe('name');
  });

  it('says why a name is refused without echoing it raw', () => {
    try {
      v.databaseName('a\nb', 'name');
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toMatch(/^name: /);
    }
  });
});

describe('postgresql hosts', () => {
  it.each(['', '%'])('accepts %j (any host, as every role gets)', (host) => {
    expect(() => v.userRef({ name: 'alice', host }, 'user')).not.toThrow();
    expect(() => v.user(user({ host }), 'user')).not.toThrow();
  });

  it.each(['localhost', '10.0.0.%', '10.0.0.1', '0.0.0.0/0', "%' OR '1'='1", 'h\0'])('refuses the host restriction %j rather than ignore it', (host) => {
    expect(fieldOf(() => v.userRef({ name: 'alice', host }, 'user'))).toBe('user.host');
    expect(fieldOf(() => v.user(user({ host }), 'users[0]'))).toBe('users[0].host');
  });
});

describe('postgresql passwords', () => {
  it('accepts 1 to 128 printable ASCII characters, quotes and backslashes included', () => {
    expect(() => v.password('x', 'password')).not.toThrow();
    expect(() => v.password(`'"\\;$$ --/*`.padEnd(128, 'z'), 'password')).not.toThrow();
  });

  it.each(['', 'x'.repeat(129), 'a\0b', 'pä', 'a\nb', 'tab\there'])('refuses %j', (pw) => {
    expect(fieldOf(() => v.user(user({ password: pw }), 'users[0]'))).toBe('users[0].password');
    expect(fieldOf(() => v.password(pw, 'password'))).toBe('password');
  });

  it('never echoes a refused password', () => {
    try {
      v.password('secret-ü', 'password');
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });
});

describe('postgresql encodings and locales', () => {
  it.each([
    ['UTF8', 'C', ''],
    ['utf-8', 'C.UTF-8', 'en_US.UTF-8'],
    ['LATIN1', 'POSIX', 'de_DE@euro'],
    ['EUC_JP', 'ja_JP.eucjp', 'C'],
    ['', '', 'sr_RS.utf8@latin'],
  ])('accepts encoding %j, collation %j, ctype %j', (characterSet, collation, ctype) => {
    expect(() => v.database(db({ characterSet, collation, ctype }), 'db')).not.toThrow();
  });

  it.each([
    [{ characterSet: "UTF8' TEMPLATE template1 --" }, 'character_set'],
    [{ characterSet: 'UTF8;' }, 'character_set'],
    [{ characterSet: 'ü' }, 'character_set'],
    [{ characterSet: 'x'.repeat(33) }, 'character_set'],
    [{ collation: "C' LC_CTYPE 'C" }, 'collation'],
    [{ collation: 'C UTF-8' }, 'collation'],
    [{ collation: '.hidden' }, 'collation'],
    [{ collation: 'x'.repeat(64) }, 'collation'],
    [{ ctype: 'C\nx' }, 'ctype'],
    [{ ctype: '../../etc/passwd' }, 'ctype'],
    [{ replication: { dc1: 3 } }, 'replication'],
  ] as Array<[Partial<Database>, string]>)('refuses %j naming databases[2].%s', (over, field) => {
    expect(fieldOf(() => v.database(db(over), 'databases[2]'))).toBe(`databases[2].${field}`);
  });

  it('treats spelling variants of a codeset as one locale, as the C library does', () => {
    expect(normaliseLocale('en_US.UTF-8')).toBe(normaliseLocale('en_US.utf8'));
    expect(normaliseLocale('C.UTF-8')).toBe('C.utf8');
    expect(normaliseLocale('de_DE.ISO-8859-1@euro')).toBe('de_DE.iso88591@euro');
    expect(normaliseLocale('C')).toBe('C');
    expect(normaliseLocale('en_US')).not.toBe(normaliseLocale('en_GB'));
  });
});

describe('postgresql requests', () => {
  it('validates access entries and names their field', () => {
    expect(fieldOf(() => v.user(user({ access: [{ database: 'ok' }, { database: 'bad name' }] }), 'users[0]'))).toBe('users[0].access[1].database');
    expect(fieldOf(() => v.user(user({ access: [{ database: 'template1' }] }), 'users[0]'))).toBe('users[0].access[0].database');
    expect(fieldOf(() => v.user(user({ access: [{ database: 'a' }, { database: 'a' }] }), 'users[0]'))).toBe('users[0].access[1]');
  });

  it('refuses a Redis permission string', () => {
    expect(fieldOf(() => v.user(user({ permissions: 'read-only' }), 'users[0]'))).toBe('users[0].permissions');
  });

  it('refuses duplicates in one request (names are case-sensitive)', () => {
    expect(fieldOf(() => pgValidator.users([user(), user({ host: '%' })], 'users'))).toBe('users[1]');
    expect(() => pgValidator.users([user(), user({ name: 'Alice' })], 'users')).not.toThrow();
    expect(fieldOf(() => pgValidator.databases([db(), db({ name: 'b' }), db()], 'databases'))).toBe('databases[2]');
    expect(fieldOf(() => pgValidator.databaseNames(['a', 'a'], 'databases'))).toBe('databases[1]');
    expect(fieldOf(() => pgValidator.databaseNames([], 'databases'))).toBe('databases');
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
      databases: [db()],
      users: [user({ access: [{ database: 'other' }] })],
    };
    expect(fieldOf(() => checkPrepareRequest(req))).toBe('users[0].access[0].database');
  });

  it('pages: 0 is the default, above the maximum is refused, markers must look like names', () => {
    expect(pageLimit({ limit: 0, marker: '' })).toBe(100);
    expect(pageLimit({ limit: 1000, marker: '' })).toBe(1000);
    expect(fieldOf(() => pageLimit({ limit: 1001, marker: '' }))).toBe('page.limit');
    expect(pageMarker({ limit: 0, marker: "' OR '1'='1" })).toBe("' OR '1'='1");
    expect(fieldOf(() => pageMarker({ limit: 0, marker: 'a\0' }))).toBe('page.marker');
    expect(fieldOf(() => pageMarker({ limit: 0, marker: 'x'.repeat(65) }))).toBe('page.marker');
  });
});

describe('postgresql configuration', () => {
  it('splits memory a quarter for shared_buffers and three quarters for the cache estimate, with floors', () => {
    expect(tuning(256)).toMatchObject({ shared_buffers: '64MB', effective_cache_size: '192MB' });
    expect(tuning(8192)).toMatchObject({ shared_buffers: '2048MB', effective_cache_size: '6144MB' });
    expect(tuning(32)).toMatchObject({ shared_buffers: '16MB', effective_cache_size: '32MB' });
    expect(tuning(256).max_connections).toBeLessThan(tuning(8192).max_connections as number);
  });

  it('quotes string values and refuses ones that could start a new setting', () => {
    expect(confValue("/data/it's")).toBe("'/data/it''s'");
    expect(confValue(5432)).toBe('5432');
    expect(confValue(true)).toBe('on');
    expect(() => confValue("x'\nssl = off")).toThrow(/line break/);
  });

  it('renders a self-contained postgresql.conf', () => {
    const conf = renderPostgresqlConf({
      dataDir: '/s/data',
      hbaFile: '/s/config/pg_hba.conf',
      identFile: '/s/config/pg_ident.conf',
      port: 5433,
      bindAddress: '10.0.0.5',
      socketDir: '/s/run',
      logDir: '/s/log/postgresql',
      memoryMb: 1024,
    });
    for (const line of [
      "data_directory = '/s/data'",
      "hba_file = '/s/config/pg_hba.conf'",
      "listen_addresses = '10.0.0.5'",
      'port = 5433',
      "unix_socket_directories = '/s/run'",
      "password_encryption = 'scram-sha-256'",
      "shared_buffers = '256MB'",
      "effective_cache_size = '768MB'",
      'logging_collector = on',
      "log_directory = '/s/log/postgresql'",
    ]) {
      expect(conf.split('\n')).toContain(line);
    }
  });

  it('renders pg_hba.conf without trust, the admin on the socket only, root over TCP only when enabled', () => {
    const off = renderHba({ rootOverTcp: false });
    const on = renderHba({ rootOverTcp: true });
    for (const hba of [off, on]) {
      expect(hba).not.toMatch(/\btrust\b/);
      const rules = hba
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/\s+/));
      expect(rules.filter((r) => r[0] === 'local')).toEqual([['local', 'all', ADMIN_USER, 'scram-sha-256']]);
      // First match wins: the admin and root lines come before the catch-all.
      const adminTcp = rules.findIndex((r) => r[0] === 'host' && r[2] === ADMIN_USER);
      const rootTcp = rules.findIndex((r) => r[0] === 'host' && r[2] === 'postgres');
      const rest = rules.findIndex((r) => r[0] === 'host' && r[2] === 'all');
      expect(rules[adminTcp][4]).toBe('reject');
      expect(adminTcp).toBeLessThan(rest);
      expect(rootTcp).toBeLessThan(rest);
      expect(rules[rest]).toEqual(['host', 'all', 'all', 'all', 'scram-sha-256']);
    }
    expect(hbaAllowsRoot(off)).toBe(false);
    expect(hbaAllowsRoot(on)).toBe(true);
    expect(off).toMatch(/^host\s+all\s+postgres\s+all\s+reject$/m);
  });

  it('runs the server as postgres with a command line a restarted agent can match', () => {
    const paths = pgPaths({ dataDir: '/s/data', configDir: '/s/config', runDir: '/s/run', logDir: '/s/log' });
    const spec = serviceSpec({ major: 15, binDir: '/usr/lib/postgresql/15/bin' }, paths);
    expect(spec).toMatchObject({
      command: '/usr/lib/postgresql/15/bin/postgres',
      args: ['-c', 'config_file=/s/config/postgresql.conf'],
      user: 'postgres',
      stopSignal: 'SIGINT',
    });
    expect(spec.pidFile).not.toBe(join('/s/data', 'postmaster.pid'));
  });
});

describe('postgresql SCRAM verifiers and errors', () => {
  it('builds a verifier in the server format, salted afresh each time', () => {
    // '!' and '#' are outside base64: a random verifier can never contain this password by chance.
    const password = 'p!w#';
    const a = scramVerifier(password);
    expect(a).toMatch(new RegExp(`^SCRAM-SHA-256\\$${SCRAM_ITERATIONS}:[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`));
    expect(scramVerifier(password)).not.toBe(a);
    const salt = Buffer.alloc(16, 7);
    expect(scramVerifier('pw', salt)).toBe(scramVerifier('pw', salt));
    expect(scramVerifier('pw', salt)).not.toBe(scramVerifier('pw2', salt));
    expect(a).not.toContain(password);
  });

  it('maps server errors to codes without the statement', () => {
    const e = (code: string, detail?: string) => Object.assign(new DatabaseError('boom', 0, 'error'), { code, detail });
    expect(sqlError(e('28P01')).code).toBe('PERMISSION_DENIED');
    expect(sqlError(e('57P03')).code).toBe('UNAVAILABLE');
    expect(sqlError(e('42710')).code).toBe('ALREADY_EXISTS');
    expect(sqlError(e('3D000')).code).toBe('NOT_FOUND');
    const inUse = sqlError(e('55006', 'There are 2 other sessions using the database.'));
    expect(inUse.code).toBe('FAILED_PRECONDITION');
    expect(inUse.message).toContain('2 other sessions');
    expect(sqlError(e('XX000')).code).toBe('INTERNAL');
    expect(sqlError(Object.assign(new Error('connect ECONNREFUSED /s/run/.s.PGSQL.5432'), { code: 'ECONNREFUSED' })).code).toBe('UNAVAILABLE');
    expect(sqlError(new Error('Connection terminated unexpectedly')).code).toBe('UNAVAILABLE');
  });
});
