// The MySQL/MariaDB parameter catalog as data: sound rules, defaults that pass
// them and match what my.cnf renders, nothing replication or the paths own, and
// hostile values refused through the operations table.
import { describe, expect, it } from 'vitest';
import { canonicalValue, checkCatalog } from '../../managers/sdk/configuration.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import { renderMyCnf, tuning, type ServerSettings } from '../../managers/mysql/config.js';
import { mysqlIdentity } from '../../managers/mysql/identity.js';
import { mysqlParameters, parameterEntries } from '../../managers/mysql/parameters.js';
import { mysqlValidator } from '../../managers/mysql/validation.js';
import { refusal } from '../fixtures/datastore-assertions.js';

const MEMORY_SIZES = [32, 256, 1024, 16384, 262144];
const { rules } = mysqlParameters;
const ruleOf = (name: string) => rules.find((r) => r.name === name)!;

const settings = (memoryMb: number): ServerSettings => ({
  flavour: 'mariadb',
  dataDir: '/d',
  port: 3307,
  bindAddress: '127.0.0.1',
  socket: '/r/mysqld.sock',
  pidFile: '/r/mysqld.pid',
  errorLog: '/l/mysqld.err',
  memoryMb,
  serverId: 7,
});

/** The [mysqld] entries of a rendered my.cnf, the last of a repeated key winning (as the server reads it). */
function mysqldEntries(cnf: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const line of cnf.split('\n')) {
    const s = /^\[(.+)\]$/.exec(line);
    if (s) section = s[1]!;
    const kv = /^([a-z_-]+) = (.*)$/.exec(line);
    if (section === 'mysqld' && kv) out.set(kv[1]!.replaceAll('-', '_'), kv[2]!);
  }
  return out;
}

const applyCheck = (values: Record<string, string>) => checkCommand(payload('applyConfiguration', { values }), mysqlIdentity);

describe('mysql parameter catalog', () => {
  it('passes checkCatalog and is what the validator and the identity offer', () => {
    expect(checkCatalog(mysqlParameters)).toBe(mysqlParameters);
    expect(mysqlValidator.parameters).toBe(mysqlParameters);
    expect(mysqlIdentity.capabilities).toContain('configuration');
    for (const r of rules) expect(r.description.length, r.name).toBeGreaterThan(10);
  });

  it('covers what operators tune, with honest dynamic flags', () => {
    const dynamic = Object.fromEntries(rules.map((r) => [r.name, r.dynamic]));
    expect(dynamic).toMatchObject({
      innodb_buffer_pool_size: true,
      max_connections: true,
      wait_timeout: true,
      long_query_time: true,
      character_set_server: true,
      transaction_isolation: true,
      // Restart on MySQL 8 (MariaDB 10.9+ would take it live): one rule set, the stricter flag.
      innodb_log_file_size: false,
      performance_schema: false,
    });
    expect(rules.length).toBeGreaterThanOrEqual(27);
  });

  it('lets no group set what replication, paths or free text own', () => {
    const owned = [
      'server_id',
      'log_bin',
      'log_bin_index',
      'relay_log',
      'binlog_format',
      'log_slave_updates',
      'read_only',
      'super_read_only',
      'gtid_strict_mode',
      'gtid_domain_id',
      'rpl_semi_sync_master_enabled',
      'rpl_semi_sync_slave_enabled',
      'rpl_semi_sync_master_timeout',
      'relay_log_recovery',
      'datadir',
      'port',
      'socket',
      'bind_address',
      'pid_file',
      'log_error',
      'slow_query_log_file',
      'general_log_file',
      'ssl_cert',
      'ssl_key',
      'ssl_ca',
      'sql_mode',
      'init_connect',
      'plugin_load_add',
      'local_infile',
      'skip_name_resolve',
    ];
    const names = new Set(rules.map((r) => r.name));
    expect(owned.filter((n) => names.has(n))).toEqual([]);
  });

  it.each(MEMORY_SIZES)('at %i MB every default passes its own rule, canonical', (memoryMb) => {
    const d = mysqlParameters.defaults(memoryMb);
    expect(Object.keys(d).sort()).toEqual(rules.map((r) => r.name).sort());
    for (const r of rules) expect(canonicalValue(r, d[r.name]!, r.name), r.name).toBe(d[r.name]);
  });

  it('derives its memory defaults from tuning() (no second set of numbers)', () => {
    for (const memoryMb of MEMORY_SIZES) {
      const d = mysqlParameters.defaults(memoryMb);
      const t = tuning(memoryMb);
      const bytes = (v: string | number | undefined) => String(Number(String(v).replace(/M$/, '')) * 1024 * 1024);
      expect(d.innodb_buffer_pool_size).toBe(bytes(t.innodb_buffer_pool_size));
      expect(d.innodb_log_file_size).toBe(bytes(t.innodb_log_file_size));
      expect(d.tmp_table_size).toBe(bytes(t.tmp_table_size));
      expect(d.max_connections).toBe(String(t.max_connections));
      expect(d.table_open_cache).toBe(String(t.table_open_cache));
      expect(d.performance_schema).toBe(String(t.performance_schema).toLowerCase());
    }
    expect(mysqlParameters.defaults(256)).toMatchObject({ innodb_buffer_pool_size: String(128 * 1024 * 1024), performance_schema: 'off' });
    expect(mysqlParameters.defaults(16384)).toMatchObject({ innodb_buffer_pool_size: String(8192 * 1024 * 1024), performance_schema: 'on' });
  });

  it.each(MEMORY_SIZES)('at %i MB my.cnf without a group renders exactly the defaults, once each', (memoryMb) => {
    const cnf = renderMyCnf(settings(memoryMb), undefined, parameterEntries(memoryMb, {}));
    const entries = mysqldEntries(cnf);
    const d = mysqlParameters.defaults(memoryMb);
    for (const r of rules) {
      const want = r.type === 'boolean' ? d[r.name]!.toUpperCase() : d[r.name];
      expect(entries.get(r.name), r.name).toBe(want);
      expect(
        cnf.split('\n').filter((l) => l.replaceAll('-', '_').startsWith(`${r.name} =`)),
        r.name,
      ).toHaveLength(1);
    }
  });

  it("renders a group's values over the defaults, canonical, and never over replication's settings", () => {
    const group = { max_connections: '77', slow_query_log: 'true', long_query_time: '0.50', transaction_isolation: 'READ-COMMITTED', sync_binlog: '0' };
    const cnf = renderMyCnf(settings(256), { readOnly: true, semiSyncSource: false, semiSyncReplica: true }, parameterEntries(256, group));
    const entries = mysqldEntries(cnf);
    expect(entries.get('max_connections')).toBe('77');
    expect(entries.get('slow_query_log')).toBe('ON');
    expect(entries.get('long_query_time')).toBe('0.5');
    expect(entries.get('transaction_isolation')).toBe('READ-COMMITTED');
    expect(entries.get('sync_binlog')).toBe('0');
    expect(entries.get('read_only')).toBe('ON');
    expect(entries.get('server_id')).toBe('7');
    expect(entries.get('rpl_semi_sync_slave_enabled')).toBe('ON');
    expect(entries.get('character_set_server')).toBe('utf8mb4');
  });

  it('refuses a damaged group at render time instead of writing it', () => {
    expect(refusal(() => parameterEntries(256, { max_connections: '1\nread_only = OFF' })).field).toBe('configuration.max_connections');
    expect(refusal(() => parameterEntries(256, { read_only: 'OFF' })).field).toBe('configuration.read_only');
  });
});

describe('mysql groups against a memory size (resize)', () => {
  const MiB = 1024 * 1024;
  const fits = (values: Record<string, string>, memoryMb: number) => mysqlParameters.fits!(values, memoryMb);

  it('is offered: the identity has the capability and the catalog says what fits', () => {
    expect(mysqlIdentity.capabilities).toContain('resize');
    expect(typeof mysqlParameters.fits).toBe('function');
  });

  it.each([128, 256, 1024, 16384, 262144, 1_048_576])("Steward's own defaults at %i MB fit that size", (memoryMb) => {
    expect(fits(mysqlParameters.defaults(memoryMb), memoryMb)).toBeUndefined();
    expect(fits({}, memoryMb)).toBeUndefined();
  });

  it('refuses a buffer pool above 80% of the memory, naming the parameter, its value and the limit', () => {
    // 80% of 512 MB is 429496729 bytes: 409 MiB fits, 410 MiB does not.
    expect(fits({ innodb_buffer_pool_size: String(409 * MiB) }, 512)).toBeUndefined();
    const why = fits({ innodb_buffer_pool_size: String(410 * MiB), max_connections: '100' }, 512);
    expect(why).toBe(
      `innodb_buffer_pool_size = ${410 * MiB} bytes is more than 80% of 512 MB (429496729 bytes): the buffer pool is reserved whole at start and must leave room for connections and the OS`,
    );
    // The same group fits a larger instance.
    expect(fits({ innodb_buffer_pool_size: String(410 * MiB) }, 1024)).toBeUndefined();
  });

  it.each(['tmp_table_size', 'max_heap_table_size', 'max_allowed_packet', 'sort_buffer_size', 'join_buffer_size', 'binlog_cache_size'])(
    'refuses %s above a quarter of the memory',
    (name) => {
      expect(fits({ [name]: String(64 * MiB) }, 256)).toBeUndefined();
      expect(fits({ [name]: String(64 * MiB + 1024) }, 256)).toMatch(
        new RegExp(`^${name} = ${64 * MiB + 1024} bytes is more than 25% of 256 MB \\(${64 * MiB} bytes\\)`),
      );
    },
  );

  it('leaves alone what does not pin memory', () => {
    expect(fits({ max_connections: '100000', innodb_log_file_size: String(64 * 1024 * MiB), wait_timeout: '1' }, 128)).toBeUndefined();
  });
});

describe('mysql apply_configuration checks', () => {
  it('accepts a valid group and canonical forms', () => {
    expect(() => applyCheck({ max_connections: '500', slow_query_log: 'ON', innodb_buffer_pool_size: '268435456', general_log: 'false' })).not.toThrow();
    expect(() => applyCheck({})).not.toThrow();
  });

  it.each<[string, Record<string, string>, string]>([
    ['an unknown name', { max_conections: '10' }, 'values.max_conections'],
    ['a replication setting', { read_only: 'OFF' }, 'values.read_only'],
    ['a server id', { server_id: '1' }, 'values.server_id'],
    ['a path', { datadir: '/tmp' }, 'values.datadir'],
    ['free text', { sql_mode: 'ANSI' }, 'values.sql_mode'],
    ['too small', { max_connections: '9' }, 'values.max_connections'],
    ['too large', { innodb_buffer_pool_size: String(2 * 1024 ** 4) }, 'values.innodb_buffer_pool_size'],
    ['a negative', { wait_timeout: '-1' }, 'values.wait_timeout'],
    ['a unit suffix', { max_allowed_packet: '64M' }, 'values.max_allowed_packet'],
    ['a float for an integer', { max_connections: '100.5' }, 'values.max_connections'],
    ['a newline', { max_connections: '100\nread_only = OFF' }, 'values.max_connections'],
    ['surrounding spaces', { max_connections: ' 100 ' }, 'values.max_connections'],
    ['a quote', { character_set_server: "utf8mb4'" }, 'values.character_set_server'],
    ['a comment', { max_connections: '100 # x' }, 'values.max_connections'],
    ['a semicolon', { transaction_isolation: 'SERIALIZABLE; DROP DATABASE app' }, 'values.transaction_isolation'],
    ['an include', { character_set_server: '!include /etc/passwd' }, 'values.character_set_server'],
    ['an enum of another case', { transaction_isolation: 'serializable' }, 'values.transaction_isolation'],
    ['a boolean spelled otherwise', { general_log: 'enabled' }, 'values.general_log'],
    ['unicode digits', { max_connections: '١٠٠' }, 'values.max_connections'],
    ['an overlong value', { max_connections: '1'.repeat(65) }, 'values.max_connections'],
  ])('refuses %s, naming the parameter', (_label, values, field) => {
    const err = refusal(() => applyCheck(values));
    expect(err.field).toBe(field);
  });

  it('refuses hostile names without echoing them raw', () => {
    for (const name of ['max_connections\n', 'Max_Connections', `${'a'.repeat(65)}`, 'wait_timeout;', 'ünïcode', '!include']) {
      const err = refusal(() => applyCheck({ [name]: '1' }));
      expect(err.field, JSON.stringify(name)).toMatch(/^values\./);
      expect(err.message).not.toContain('\n');
    }
  });

  it('checks a prepare request’s configuration the same way', () => {
    const prepare = (configuration: Record<string, string>) =>
      checkCommand(
        payload('prepare', {
          memoryMb: 0,
          port: 0,
          bindAddress: '',
          cluster: undefined,
          restore: undefined,
          replicaOf: undefined,
          configuration,
          databases: [],
          users: [],
        }),
        mysqlIdentity,
      );
    expect(() => prepare({ wait_timeout: '600' })).not.toThrow();
    expect(refusal(() => prepare({ wait_timeout: '0' })).field).toBe('configuration.wait_timeout');
    expect(ruleOf('wait_timeout').min).toBe(1);
  });
});
