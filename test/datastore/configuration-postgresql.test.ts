// Configuration groups on a real PostgreSQL started by the agent's process
// backend: one prepared server for the file, tests in order, each building on
// the last. Commands go through the operations table as the agent runs them
// (checked, then the manager); what the server runs with is read back from
// pg_settings and SHOW in fresh sessions, what it will run with from the
// rendered files.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { sameValue } from '../../managers/postgresql/group-config.js';
import { POSTGRESQL_PARAMETERS, postgresqlParameters } from '../../managers/postgresql/parameters.js';
import { createPostgresqlInstance, postgresqlAdmin, postgresqlUnavailableReason, testOp, type PostgresqlInstance } from '../fixtures/postgresql-instance.js';
import { failure } from '../fixtures/datastore-assertions.js';
import { serverProcesses } from '../fixtures/datastore-lifecycle.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';

const MEMORY_MB = 256;
const DEFAULTS = postgresqlParameters.defaults(MEMORY_MB);
const NAMES = POSTGRESQL_PARAMETERS.map((r) => r.name);

interface Live {
  setting: string;
  unit: string | null;
  pending_restart: boolean;
}

const reason = await postgresqlUnavailableReason();

if (reason) {
  describeUnavailable('postgresql configuration groups', 'needs a PostgreSQL server installed', 'postgresql configuration tests', reason);
} else {
  describe('postgresql configuration groups (process backend)', () => {
    let inst: PostgresqlInstance;
    let spec: ServiceSpec;
    const files = () => ({
      conf: join(inst.ctx.configDir, 'postgresql.conf'),
      group: join(inst.ctx.configDir, 'configuration-group.conf'),
      state: join(inst.ctx.configDir, 'configuration-group.json'),
    });

    const admin = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => postgresqlAdmin(inst, fn);

    /** Every catalog parameter as a fresh session sees it. */
    const live = (): Promise<Record<string, Live>> =>
      admin(async (c) => {
        const rows = (await c.query('SELECT name, setting, unit, pending_restart FROM pg_settings WHERE name = ANY($1)', [NAMES])).rows;
        return Object.fromEntries(rows.map((r) => [r.name, r as Live]));
      });

    const show = (name: string): Promise<string> => admin(async (c) => (await c.query(`SHOW ${name}`)).rows[0][name]);

    /** Names (of `names`) whose live value is not `values`' (in the rules' units). */
    async function differing(values: Record<string, string>, names = Object.keys(values)): Promise<string[]> {
      const now = await live();
      return names.filter((n) => !sameValue(POSTGRESQL_PARAMETERS.find((r) => r.name === n)!, values[n], now[n]));
    }

    /** The group file's settings, as lines. */
    const groupLines = async (): Promise<string[]> => (await readFile(files().group, 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));

    async function apply(values: Record<string, string>) {
      const r = resultOf(await inst.run(payload('applyConfiguration', { values })), 'configuration');
      if (!r) throw new Error('apply_configuration answered no configuration');
      return r;
    }

    const snapshot = async () => Promise.all([files().conf, files().group, files().state].map((f) => readFile(f)));

    beforeAll(async () => {
      inst = await createPostgresqlInstance({ memoryMb: MEMORY_MB });
      spec = await inst.manager.serviceSpec();
      // Through the operations table: the group is checked, then recorded before the first render.
      await inst.agent.prepare(
        prepareRequest({ configuration: { work_mem: '8192', log_statement: 'ddl', shared_buffers: '32', statement_timeout: '60000' } }),
        testOp(),
      );
    });

    afterAll(async () => {
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('prepare renders the group and the server starts with it; everything else is at the catalog defaults', async () => {
      expect(await groupLines()).toEqual(["log_statement = 'ddl'", "shared_buffers = '32MB'", "statement_timeout = '60000ms'", "work_mem = '8192kB'"]);
      expect((await readFile(files().conf, 'utf8')).split('\n')).toContain(`include = '${files().group}'`);
      expect([await show('work_mem'), await show('shared_buffers'), await show('log_statement'), await show('statement_timeout')]).toEqual([
        '8MB',
        '32MB',
        'ddl',
        '1min',
      ]);
      const group = { work_mem: '8192', log_statement: 'ddl', shared_buffers: '32', statement_timeout: '60000' };
      // The built-in defaults the catalog states, and tuning()'s, are what the server really runs with.
      expect(await differing({ ...DEFAULTS, ...group })).toEqual([]);
      expect(Object.values(await live()).filter((l) => l.pending_restart)).toEqual([]);
      expect(JSON.parse(await readFile(files().state, 'utf8'))).toEqual({ values: group, logs: {}, pendingRestart: [] });
    });

    it('a dynamic value is live at once and in the rendered file; an ALTER SYSTEM value does not outvote it', async () => {
      await admin((c) => c.query("ALTER SYSTEM SET work_mem = '1MB'"));
      const values = {
        work_mem: '16384',
        shared_buffers: '32',
        checkpoint_timeout: '600',
        random_page_cost: '1.1',
        log_connections: 'on',
        synchronous_commit: 'local',
        autovacuum_vacuum_scale_factor: '0.05',
      };
      const r = await apply(values);
      expect(r).toEqual({ values, pendingRestart: [] });
      expect([await show('work_mem'), await show('checkpoint_timeout'), await show('log_connections'), await show('synchronous_commit')]).toEqual([
        '16MB',
        '10min',
        'on',
        'local',
      ]);
      // Those the group no longer sets are back at the defaults at once.
      expect([await show('log_statement'), await show('statement_timeout')]).toEqual(['none', '0']);
      expect(await differing({ ...DEFAULTS, ...values })).toEqual([]);
      expect(await groupLines()).toEqual([
        "autovacuum_vacuum_scale_factor = '0.05'",
        "checkpoint_timeout = '600s'",
        'log_connections = on',
        "random_page_cost = '1.1'",
        "shared_buffers = '32MB'",
        "synchronous_commit = 'local'",
        "work_mem = '16384kB'",
      ]);
      const auto = await admin(async (c) => (await c.query("SELECT name FROM pg_file_settings WHERE sourcefile LIKE '%/postgresql.auto.conf'")).rows);
      expect(auto).toEqual([]);
    });

    it('a restart-required value is rendered and pending; the server keeps the old one', async () => {
      const values = { work_mem: '16384', shared_buffers: '48', max_connections: '60', autovacuum_max_workers: '4' };
      const r = await apply(values);
      expect(r.pendingRestart).toEqual(['autovacuum_max_workers', 'max_connections', 'shared_buffers']);
      expect(await groupLines()).toEqual(["autovacuum_max_workers = '4'", "max_connections = '60'", "shared_buffers = '48MB'", "work_mem = '16384kB'"]);
      expect(await show('shared_buffers')).toBe('32MB');
      expect(await show('max_connections')).toBe(DEFAULTS.max_connections);
      const now = await live();
      expect([now.shared_buffers.pending_restart, now.max_connections.pending_restart, now.autovacuum_max_workers.pending_restart]).toEqual([true, true, true]);
      // A second apply still reports what awaits the restart.
      expect((await apply(values)).pendingRestart).toEqual(['autovacuum_max_workers', 'max_connections', 'shared_buffers']);
    });

    it('a restart through the manager puts them in force; nothing is pending afterwards', async () => {
      await inst.manager.restart(testOp());
      expect([await show('shared_buffers'), await show('max_connections'), await show('autovacuum_max_workers')]).toEqual(['48MB', '60', '4']);
      expect(Object.values(await live()).filter((l) => l.pending_restart)).toEqual([]);
      const values = { work_mem: '16384', shared_buffers: '48', max_connections: '60', autovacuum_max_workers: '4' };
      expect(await apply(values)).toEqual({ values, pendingRestart: [] });
      expect(await differing({ ...DEFAULTS, ...values })).toEqual([]);
    });

    it('detaching ({}) brings the defaults back, live and in the config', async () => {
      const r = await apply({});
      expect(r).toEqual({ values: {}, pendingRestart: ['autovacuum_max_workers', 'max_connections', 'shared_buffers'] });
      expect(await groupLines()).toEqual([]);
      expect(await show('work_mem')).toBe('4MB');
      const dynamic = POSTGRESQL_PARAMETERS.filter((p) => p.dynamic).map((p) => p.name);
      expect(await differing(DEFAULTS, dynamic)).toEqual([]);
      // Steward's defaults are postgresql.conf's own lines.
      expect((await readFile(files().conf, 'utf8')).split('\n')).toEqual(
        expect.arrayContaining(["shared_buffers = '64MB'", "work_mem = '4MB'", `max_connections = ${DEFAULTS.max_connections}`]),
      );
      await inst.manager.restart(testOp());
      expect(await differing(DEFAULTS)).toEqual([]);
      expect((await apply({})).pendingRestart).toEqual([]);
    });

    it('refuses hostile groups before anything is touched, naming the parameter', async () => {
      const before = await snapshot();
      const cases: Array<[Record<string, string>, string]> = [
        [{ nonexistent_setting: '1' }, 'values.nonexistent_setting'],
        [{ synchronous_standby_names: '*' }, 'values.synchronous_standby_names'],
        [{ primary_conninfo: 'host=evil' }, 'values.primary_conninfo'],
        [{ wal_level: 'minimal' }, 'values.wal_level'],
        [{ hot_standby: 'off' }, 'values.hot_standby'],
        [{ archive_command: '/bin/true' }, 'values.archive_command'],
        [{ listen_addresses: '*' }, 'values.listen_addresses'],
        [{ port: '5432' }, 'values.port'],
        [{ ssl: 'off' }, 'values.ssl'],
        [{ data_directory: '/tmp' }, 'values.data_directory'],
        [{ include: '/etc/passwd' }, 'values.include'],
        [{ max_connections: '100000' }, 'values.max_connections'],
        [{ max_connections: '10' }, 'values.max_connections'],
        [{ work_mem: '63' }, 'values.work_mem'],
        [{ checkpoint_timeout: '29' }, 'values.checkpoint_timeout'],
        [{ checkpoint_completion_target: '1.01' }, 'values.checkpoint_completion_target'],
        [{ shared_buffers: '32MB' }, 'values.shared_buffers'],
        [{ work_mem: "4096\nlisten_addresses = '*'" }, 'values.work_mem'],
        [{ log_statement: "all'" }, 'values.log_statement'],
        [{ log_statement: 'all # comment' }, 'values.log_statement'],
        [{ statement_timeout: '0; SELECT 1' }, 'values.statement_timeout'],
        [{ log_statement: "none'\ninclude = '/etc/passwd" }, 'values.log_statement'],
        [{ log_connections: 'on\ninclude_dir = /tmp' }, 'values.log_connections'],
        [{ log_connections: 'ｏｎ' }, 'values.log_connections'],
        [{ work_mem: '４０９６' }, 'values.work_mem'],
        [{ wörk_mem: '4096' }, 'values."wörk_mem"'],
        [{ "work_mem = '1'\nssl": 'off' }, `values.${JSON.stringify("work_mem = '1'\nssl")}`],
        [{ ['a'.repeat(65)]: '1' }, `values."${'a'.repeat(64)}"`],
        [{ work_mem: '1'.repeat(65) }, 'values.work_mem'],
        [{ work_mem: `${'0'.repeat(60)}4096` }, 'values.work_mem'],
      ];
      for (const [values, field] of cases) {
        const err = await failure(apply(values), `${JSON.stringify(values)} should have been refused`);
        expect([err.code, err.field], `${JSON.stringify(values)}: ${err.message}`).toEqual(['INVALID_ARGUMENT', field]);
        expect(await snapshot(), JSON.stringify(values)).toEqual(before);
      }
      // Too many names at once: refused as a whole.
      const many = Object.fromEntries(Array.from({ length: NAMES.length + 1 }, (_, i) => [`p${i}`, '1']));
      const err = await failure(apply(many));
      expect([err.code, err.field]).toEqual(['INVALID_ARGUMENT', 'values']);
      // The same rules guard a prepare's group (checked before the manager is called).
      const prep = await failure(inst.agent.prepare(prepareRequest({ configuration: { wal_level: 'minimal' } }), testOp()));
      expect([prep.code, prep.field]).toEqual(['INVALID_ARGUMENT', 'configuration.wal_level']);
      expect(await snapshot()).toEqual(before);
      expect(await differing(DEFAULTS)).toEqual([]);
    });
  });
}
