// The PostgreSQL parameter catalog as data: well formed, its defaults what the
// rendered config leaves in force, and nothing it renders can carry more than
// one setting. The datastore test (configuration-postgresql.test.ts) checks the
// same defaults and units against a running server.
import { describe, expect, it } from 'vitest';
import { canonicalValue, checkCatalog, checkParameters } from '../../managers/sdk/configuration.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import { renderPostgresqlConf, tuning } from '../../managers/postgresql/config.js';
import { renderGroupConf, sameValue } from '../../managers/postgresql/group-config.js';
import { postgresqlIdentity } from '../../managers/postgresql/identity.js';
import { POSTGRESQL_PARAMETERS, postgresqlParameters, renderedValue } from '../../managers/postgresql/parameters.js';
import { pgValidator } from '../../managers/postgresql/validation.js';
import { refusal } from '../fixtures/datastore-assertions.js';

const rule = (name: string) => POSTGRESQL_PARAMETERS.find((r) => r.name === name)!;
const SIZES = [256, 1024, 16384];

describe('postgresql parameter catalog', () => {
  it('passes checkCatalog and is what the validator and the capability offer', () => {
    expect(checkCatalog(postgresqlParameters)).toBe(postgresqlParameters);
    expect(pgValidator.parameters).toBe(postgresqlParameters);
    expect(postgresqlIdentity.capabilities).toContain('configuration');
    for (const r of POSTGRESQL_PARAMETERS) expect(r.description.length, r.name).toBeGreaterThan(10);
  });

  it('covers what operators tune, with the restart-only ones marked', () => {
    const names = POSTGRESQL_PARAMETERS.map((r) => r.name);
    for (const n of [
      'shared_buffers',
      'effective_cache_size',
      'work_mem',
      'maintenance_work_mem',
      'max_connections',
      'max_wal_size',
      'min_wal_size',
      'checkpoint_timeout',
      'checkpoint_completion_target',
      'random_page_cost',
      'effective_io_concurrency',
      'default_statistics_target',
      'statement_timeout',
      'idle_in_transaction_session_timeout',
      'lock_timeout',
      'log_min_duration_statement',
      'log_statement',
      'log_connections',
      'log_disconnections',
      'log_lock_waits',
      'log_temp_files',
      'autovacuum_naptime',
      'autovacuum_vacuum_scale_factor',
      'autovacuum_analyze_scale_factor',
      'autovacuum_max_workers',
      'wal_compression',
      'synchronous_commit',
    ]) {
      expect(names).toContain(n);
    }
    expect(
      POSTGRESQL_PARAMETERS.filter((r) => !r.dynamic)
        .map((r) => r.name)
        .sort(),
    ).toEqual(['autovacuum_max_workers', 'max_connections', 'max_worker_processes', 'shared_buffers']);
    expect(rule('log_statement').values).toEqual(['none', 'ddl', 'mod', 'all']);
  });

  it('lets no group set what replication, the agent or the host own', () => {
    const names = new Set(POSTGRESQL_PARAMETERS.map((r) => r.name));
    for (const owned of [
      'synchronous_standby_names',
      'primary_conninfo',
      'primary_slot_name',
      'wal_level',
      'hot_standby',
      'archive_mode',
      'archive_command',
      'max_wal_senders',
      'default_transaction_read_only',
      'port',
      'listen_addresses',
      'data_directory',
      'hba_file',
      'unix_socket_directories',
      'ssl',
      'ssl_cert_file',
      'log_directory',
      'include',
      'shared_preload_libraries',
    ]) {
      expect(names.has(owned), owned).toBe(false);
      expect(refusal(() => checkParameters(POSTGRESQL_PARAMETERS, { [owned]: 'x' })).field).toBe(`values.${owned}`);
    }
  });

  it.each(SIZES)('has a default for every rule, each passing its own rule, at %i MB', (memoryMb) => {
    const d = postgresqlParameters.defaults(memoryMb);
    expect(Object.keys(d).sort()).toEqual(POSTGRESQL_PARAMETERS.map((r) => r.name).sort());
    for (const r of POSTGRESQL_PARAMETERS) expect(canonicalValue(r, d[r.name], r.name), r.name).toBe(d[r.name]);
    expect(checkParameters(POSTGRESQL_PARAMETERS, d)).toEqual(d);
  });

  it.each(SIZES)('takes the memory-derived defaults from tuning() at %i MB, in the rules units', (memoryMb) => {
    const d = postgresqlParameters.defaults(memoryMb);
    const t = tuning(memoryMb);
    expect(`${d.shared_buffers}MB`).toBe(t.shared_buffers);
    expect(`${d.effective_cache_size}MB`).toBe(t.effective_cache_size);
    expect(`${Number(d.work_mem) / 1024}MB`).toBe(t.work_mem);
    expect(`${Number(d.maintenance_work_mem) / 1024}MB`).toBe(t.maintenance_work_mem);
    expect(d.max_connections).toBe(String(t.max_connections));
  });

  it('renders values with the units the server reads and the group after the defaults, before the role', () => {
    const lines = renderGroupConf({
      shared_buffers: '128',
      work_mem: '8192',
      statement_timeout: '30000',
      checkpoint_timeout: '600',
      log_temp_files: '-1',
      checkpoint_completion_target: '0.7',
      log_statement: 'ddl',
      log_connections: 'on',
      max_connections: '80',
    }).split('\n');
    for (const line of [
      "shared_buffers = '128MB'",
      "work_mem = '8192kB'",
      "statement_timeout = '30000ms'",
      "checkpoint_timeout = '600s'",
      "log_temp_files = '-1kB'",
      "checkpoint_completion_target = '0.7'",
      "log_statement = 'ddl'",
      'log_connections = on',
      "max_connections = '80'",
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines.filter((l) => l && !l.startsWith('#'))).toHaveLength(9);
    expect(
      renderGroupConf({})
        .split('\n')
        .filter((l) => l && !l.startsWith('#')),
    ).toEqual([]);
    expect(() => renderGroupConf({ wal_level: 'minimal' })).toThrow(/not in the PostgreSQL catalog/);

    const conf = renderPostgresqlConf({
      dataDir: '/s/data',
      hbaFile: '/s/h',
      identFile: '/s/i',
      port: 5433,
      bindAddress: '127.0.0.1',
      socketDir: '/s/run',
      logDir: '/s/log',
      memoryMb: 1024,
      groupConf: '/s/config/configuration-group.conf',
      replicationConf: '/s/config/replication.conf',
    }).split('\n');
    const group = conf.indexOf("include = '/s/config/configuration-group.conf'");
    expect(group).toBeGreaterThan(conf.indexOf("shared_buffers = '256MB'"));
    expect(conf.indexOf("include = '/s/config/replication.conf'")).toBe(group + 1);
  });

  it('compares live settings in the server units with the rule units', () => {
    expect(sameValue(rule('shared_buffers'), '64', { setting: '8192', unit: '8kB' })).toBe(true);
    expect(sameValue(rule('shared_buffers'), '64', { setting: '8193', unit: '8kB' })).toBe(false);
    expect(sameValue(rule('work_mem'), '4096', { setting: '4096', unit: 'kB' })).toBe(true);
    expect(sameValue(rule('checkpoint_timeout'), '300', { setting: '300', unit: 's' })).toBe(true);
    expect(sameValue(rule('log_temp_files'), '-1', { setting: '-1', unit: 'kB' })).toBe(true);
    expect(sameValue(rule('checkpoint_completion_target'), '0.123456789', { setting: '0.123457', unit: null })).toBe(true);
    expect(sameValue(rule('checkpoint_completion_target'), '0.5', { setting: '0.9', unit: null })).toBe(false);
    expect(sameValue(rule('jit'), 'on', { setting: 'on', unit: null })).toBe(true);
    expect(renderedValue(rule('jit'), 'off')).toBe(false);
  });

  it('refuses hostile values through the operations table, naming the parameter', () => {
    const check = (values: Record<string, string>) => checkCommand(payload('applyConfiguration', { values }), postgresqlIdentity);
    expect(() => check({ work_mem: '4096', log_statement: 'all' })).not.toThrow();
    const cases: Array<[Record<string, string>, string]> = [
      [{ work_mem: "4096'\nshared_preload_libraries = 'evil" }, 'values.work_mem'],
      [{ log_statement: "all' # x" }, 'values.log_statement'],
      [{ log_statement: 'all;' }, 'values.log_statement'],
      [{ statement_timeout: '1s' }, 'values.statement_timeout'],
      [{ max_connections: '5' }, 'values.max_connections'],
      [{ shared_buffers: '99999999999' }, 'values.shared_buffers'],
      [{ checkpoint_completion_target: '1.5' }, 'values.checkpoint_completion_target'],
      [{ wal_compression: 'on' }, 'values.wal_compression'],
      [{ 'include = /etc/passwd': '1' }, 'values."include = /etc/passwd"'],
      [{ wörk_mem: '1' }, 'values."wörk_mem"'],
    ];
    for (const [values, field] of cases) expect(refusal(() => check(values)).field, JSON.stringify(values)).toBe(field);
  });

  it('fits: shared_buffers up to three quarters of the memory, work_mem and maintenance_work_mem up to all of it', () => {
    const fits = postgresqlParameters.fits!;
    // Steward's own defaults fit every size they are rendered for.
    for (const mb of [128, ...SIZES]) expect(fits(postgresqlParameters.defaults(mb), mb), String(mb)).toBeUndefined();
    expect(fits({}, 128)).toBeUndefined();
    expect(fits({ shared_buffers: '768', work_mem: '1048576', maintenance_work_mem: '1048576' }, 1024)).toBeUndefined();
    expect(fits({ shared_buffers: '769' }, 1024)).toBe(
      'shared_buffers = 769MB is more than 75% of 1024 MB (768MB): the server allocates it whole at start and the rest would not fit',
    );
    expect(fits({ shared_buffers: '512' }, 512)).toMatch(/^shared_buffers = 512MB is more than 75% of 512 MB \(384MB\)/);
    expect(fits({ work_mem: '1048577' }, 1024)).toMatch(/^work_mem = 1048577kB is more than the instance's 1024 MB \(1048576kB\)/);
    expect(fits({ maintenance_work_mem: '2097152', work_mem: '4096' }, 1024)).toMatch(/^maintenance_work_mem = 2097152kB/);
    // Only the planner's estimate: nothing is allocated for it.
    expect(fits({ effective_cache_size: '16777215' }, 128)).toBeUndefined();
  });
});
