// Configuration groups on a real MariaDB started by the agent's own process
// backend: one prepared server for the file, tests in order, each building on
// the last (prepare with a group, dynamic apply, restart-required apply,
// restart, re-render by replication, detach, hostile input).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppliedConfiguration } from '../../managers/sdk/configuration.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { ReplicationStateFile } from '../../managers/sdk/replication-state.js';
import type { ServiceSpec } from '../../managers/sdk/service-control.js';
import { DatastoreStatus } from '../../managers/sdk/types.js';
import { mysqlParameters } from '../../managers/mysql/parameters.js';
import { ADMIN_SECRET, mysqlPaths } from '../../managers/mysql/paths.js';
import { rewriteConfig } from '../../managers/mysql/replication-config.js';
import { failure } from '../fixtures/datastore-assertions.js';
import { serverProcesses, until } from '../fixtures/datastore-lifecycle.js';
import { createMysqlInstance, mysqlUnavailableReason, testOp, type MysqlInstance } from '../fixtures/mysql-instance.js';
import { describeUnavailable, prepareRequest } from '../fixtures/datastore-suite.js';

const MiB = 1024 * 1024;
const MEMORY_MB = 256;
const reason = await mysqlUnavailableReason();

if (reason) {
  describeUnavailable('mysql configuration groups on MariaDB', 'needs a MariaDB or MySQL server installed', 'mysql configuration tests', reason);
} else {
  describe('mysql configuration groups on MariaDB (process backend)', () => {
    let inst: MysqlInstance;
    let spec: ServiceSpec;
    const defaults = mysqlParameters.defaults(MEMORY_MB);
    const dynamicNames = mysqlParameters.rules.filter((r) => r.dynamic).map((r) => r.name);
    const configFile = () => mysqlPaths(inst.ctx).configFile;
    const groupFile = () => join(inst.ctx.configDir, 'configuration-group.json');

    /** The server's global values, keyed by the catalog's names (MariaDB 10.11 calls the isolation level tx_isolation). */
    async function live(): Promise<Record<string, string>> {
      const password = await inst.ctx.secrets.get(ADMIN_SECRET);
      const c = await mysql.createConnection({ socketPath: mysqlPaths(inst.ctx).socket, user: 'steward_admin', password });
      try {
        const [rows] = await c.query<RowDataPacket[]>('SHOW GLOBAL VARIABLES');
        const out: Record<string, string> = {};
        for (const r of rows) out[r.Variable_name === 'tx_isolation' ? 'transaction_isolation' : r.Variable_name] ??= String(r.Value);
        return out;
      } finally {
        await c.end();
      }
    }

    /** The [mysqld] entries of my.cnf as the server reads them (dashes are underscores, the last of a key wins). */
    async function rendered(): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      let section = '';
      for (const line of (await readFile(configFile(), 'utf8')).split('\n')) {
        const s = /^\[(.+)\]$/.exec(line);
        if (s) section = s[1]!;
        const kv = /^([a-z_-]+) = (.*)$/.exec(line);
        if (section === 'mysqld' && kv) out[kv[1]!.replaceAll('-', '_')] = kv[2]!;
      }
      return out;
    }

    /** A canonical value as SHOW VARIABLES shows it (booleans ON/OFF, floats with six decimals). */
    function shown(name: string, canonical: string): string {
      const rule = mysqlParameters.rules.find((r) => r.name === name)!;
      if (rule.type === 'boolean') return canonical.toUpperCase();
      if (rule.type === 'float') return Number(canonical).toFixed(6);
      return canonical;
    }

    /** A canonical value as my.cnf has it (booleans ON/OFF, the rest as checked). */
    function inCnf(name: string, canonical: string): string {
      const rule = mysqlParameters.rules.find((r) => r.name === name)!;
      return rule.type === 'boolean' ? canonical.toUpperCase() : canonical;
    }

    /** The buffer pool is resized in the background and rounded to its chunk: close to what was asked, within a chunk. */
    async function bufferPoolNear(bytes: number): Promise<void> {
      await until(
        `innodb_buffer_pool_size near ${bytes}`,
        async () => Number((await live()).innodb_buffer_pool_size),
        (v) => Math.abs(v - bytes) <= 8 * MiB,
        30_000,
      );
    }

    async function apply(values: Record<string, string>): Promise<AppliedConfiguration> {
      const result = resultOf(await inst.run(payload('applyConfiguration', { values })), 'configuration');
      if (!result) throw new Error('apply_configuration answered no configuration');
      return result;
    }

    const atPrepare = {
      max_connections: '123',
      wait_timeout: '600',
      slow_query_log: 'on',
      transaction_isolation: 'READ-COMMITTED',
      innodb_log_file_size: String(32 * MiB),
    };

    beforeAll(async () => {
      inst = await createMysqlInstance({ memoryMb: MEMORY_MB });
      spec = await inst.manager.serviceSpec();
      // Through the operations table, as the agent runs it: the group is checked, then recorded before the first render.
      await inst.agent.prepare(prepareRequest({ configuration: { ...atPrepare, slow_query_log: 'TRUE' } }), testOp());
    });

    afterAll(async () => {
      await inst?.teardown();
      if (spec) expect(serverProcesses(spec)).toEqual([]);
    });

    it('prepare renders the group and the server starts with it', async () => {
      expect((await inst.manager.probe()).status).toBe(DatastoreStatus.HEALTHY);
      const cnf = await rendered();
      expect(cnf).toMatchObject({
        max_connections: '123',
        wait_timeout: '600',
        slow_query_log: 'ON',
        transaction_isolation: 'READ-COMMITTED',
        innodb_log_file_size: String(32 * MiB),
      });
      // What the group does not set is Steward's default.
      expect(cnf.innodb_buffer_pool_size).toBe(defaults.innodb_buffer_pool_size);
      expect(cnf.interactive_timeout).toBe(defaults.interactive_timeout);
      const v = await live();
      expect(v).toMatchObject({
        max_connections: '123',
        wait_timeout: '600',
        slow_query_log: 'ON',
        transaction_isolation: 'READ-COMMITTED',
        innodb_log_file_size: String(32 * MiB),
      });
      expect(v.interactive_timeout).toBe(defaults.interactive_timeout);
      // Replication's settings are still rendered beside the group's.
      expect(cnf.server_id).toMatch(/^\d+$/);
      expect(cnf.gtid_strict_mode).toBe('ON');
    });

    it('a dynamic group is live at once and rendered; parameters it drops go back to the defaults', async () => {
      const group = {
        max_connections: '321',
        innodb_buffer_pool_size: String(192 * MiB),
        long_query_time: '0.25',
        character_set_server: 'latin1',
        transaction_isolation: 'SERIALIZABLE',
        innodb_io_capacity: '5000',
        max_allowed_packet: String(64 * MiB),
        sync_binlog: '0',
        binlog_expire_logs_seconds: '86400',
        general_log: 'on',
        innodb_log_file_size: String(32 * MiB), // as prepared: unchanged, so nothing waits for a restart
      };
      const applied = await apply(group);
      expect(applied.pendingRestart).toEqual([]);
      expect(applied.values).toEqual(group);

      const v = await live();
      for (const [name, value] of Object.entries(group)) if (name !== 'innodb_buffer_pool_size') expect(v[name], name).toBe(shown(name, value));
      expect(v.collation_server).toBe('latin1_swedish_ci'); // follows the character set, as at a start from my.cnf
      // Dropped from the group: back to Steward's defaults, live.
      expect(v.wait_timeout).toBe(defaults.wait_timeout);
      expect(v.slow_query_log).toBe('OFF');
      await bufferPoolNear(192 * MiB);

      const cnf = await rendered();
      for (const [name, value] of Object.entries(group)) expect(cnf[name], name).toBe(inCnf(name, value));
      expect(cnf.long_query_time).toBe('0.25');
      expect(cnf.wait_timeout).toBe(defaults.wait_timeout);
      expect(cnf.slow_query_log).toBe('OFF');
    });

    it('a restart-required change is rendered and pending; the server keeps the old value until it restarts', async () => {
      const group = { max_connections: '321', performance_schema: 'on', innodb_log_file_size: String(48 * MiB) };
      const applied = await apply(group);
      expect(applied.pendingRestart).toEqual(['innodb_log_file_size', 'performance_schema']);

      const v = await live();
      expect(v.performance_schema).toBe('OFF');
      expect(v.innodb_log_file_size).toBe(String(32 * MiB));
      expect(v.max_connections).toBe('321');
      const cnf = await rendered();
      expect(cnf.performance_schema).toBe('ON');
      expect(cnf.innodb_log_file_size).toBe(String(48 * MiB));

      // Still pending on the next apply (nothing restarted), and a dynamic change alongside does not clear it.
      expect((await apply({ ...group, max_connections: '322' })).pendingRestart).toEqual(['innodb_log_file_size', 'performance_schema']);
    });

    it('restart brings the pending values in; the next apply has nothing pending', async () => {
      await inst.manager.restart(testOp());
      const v = await live();
      expect(v.performance_schema).toBe('ON');
      expect(v.innodb_log_file_size).toBe(String(48 * MiB));
      expect(v.max_connections).toBe('322'); // a dynamic value survives the restart through my.cnf
      expect((await apply({ max_connections: '322', performance_schema: 'on', innodb_log_file_size: String(48 * MiB) })).pendingRestart).toEqual([]);
    });

    it('a replication re-render of my.cnf keeps the group', async () => {
      const before = await rendered();
      await rewriteConfig(mysqlPaths(inst.ctx), new ReplicationStateFile(mysqlPaths(inst.ctx).replicationFile).get());
      expect(await rendered()).toEqual(before);
      expect(before.max_connections).toBe('322');
    });

    it('detach ({}) takes every dynamic value back to the defaults, live and in my.cnf; the rest waits for a restart', async () => {
      const applied = await apply({});
      expect(applied.values).toEqual({});
      expect(applied.pendingRestart).toEqual(['innodb_log_file_size', 'performance_schema']);

      const cnf = await rendered();
      for (const r of mysqlParameters.rules) expect(cnf[r.name], r.name).toBe(inCnf(r.name, defaults[r.name]!));
      const v = await live();
      for (const name of dynamicNames) {
        if (name === 'innodb_buffer_pool_size') continue;
        expect(v[name], name).toBe(shown(name, defaults[name]!));
      }
      await bufferPoolNear(Number(defaults.innodb_buffer_pool_size));
      expect(v.performance_schema).toBe('ON'); // until the restart
    });

    it('refuses hostile groups naming the parameter, and touches neither my.cnf nor the stored group', async () => {
      const cnfBefore = await readFile(configFile());
      const groupBefore = await readFile(groupFile());
      const attempts: Array<[Record<string, string>, string]> = [
        [{ max_conections: '100' }, 'values.max_conections'],
        [{ read_only: 'OFF' }, 'values.read_only'],
        [{ server_id: '1' }, 'values.server_id'],
        [{ gtid_strict_mode: 'OFF' }, 'values.gtid_strict_mode'],
        [{ rpl_semi_sync_master_enabled: 'ON' }, 'values.rpl_semi_sync_master_enabled'],
        [{ datadir: '/tmp' }, 'values.datadir'],
        [{ sql_mode: 'NO_BACKSLASH_ESCAPES' }, 'values.sql_mode'],
        [{ max_connections: '9' }, 'values.max_connections'],
        [{ max_connections: '100001' }, 'values.max_connections'],
        [{ max_connections: '100\nread_only = OFF' }, 'values.max_connections'],
        [{ max_connections: '100 # x' }, 'values.max_connections'],
        [{ character_set_server: "latin1'" }, 'values.character_set_server'],
        [{ character_set_server: 'latin1"' }, 'values.character_set_server'],
        [{ transaction_isolation: 'SERIALIZABLE; SET GLOBAL read_only = 0' }, 'values.transaction_isolation'],
        [{ character_set_server: '!include /etc/shadow' }, 'values.character_set_server'],
        [{ character_set_server: 'latin1\n!includedir /etc' }, 'values.character_set_server'],
        [{ max_connections: '１００' }, 'values.max_connections'],
        [{ max_connections: '9'.repeat(100) }, 'values.max_connections'],
        [{ 'max_connections\nread_only': '0' }, 'values."max_connections\\nread_only"'],
        [{ ['x'.repeat(300)]: '1' }, `values."${'x'.repeat(64)}"`],
        [{ 'wait_timeout;': '1' }, 'values."wait_timeout;"'],
        [{ käse: '1' }, 'values."käse"'],
        [{ max_connections: '200', wait_timeout: 'ten' }, 'values.wait_timeout'],
      ];
      for (const [values, field] of attempts) {
        const err = await failure(apply(values), `${JSON.stringify(values).slice(0, 80)} should be refused`);
        expect(err.code, err.message).toBe('INVALID_ARGUMENT');
        expect(err.field).toBe(field);
        expect(await readFile(configFile())).toEqual(cnfBefore);
        expect(await readFile(groupFile())).toEqual(groupBefore);
      }
      expect((await live()).max_connections).toBe(defaults.max_connections);
    });
  });
}
