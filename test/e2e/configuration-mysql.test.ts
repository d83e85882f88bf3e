// Configuration groups end to end with real parts: controller, local
// provisioner, agent processes over mutual TLS, real MariaDB servers. What a
// group sets is read back from the server itself (SHOW GLOBAL VARIABLES), a
// refused request is checked to have stored and applied nothing, and the
// group follows the instance into its backups' restores.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type DeepPartial, type Instance } from '../../proto/gen/steward/v1/api.js';
import { BackupStatus, CreateBackupApiRequest, type Backup } from '../../proto/gen/steward/v1/backups.js';
import { DatastoreStatus, OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import {
  CreateConfigurationRequest,
  UpdateConfigurationRequest,
  type ConfigurationDefaultsResponse,
  type ConfigurationGroup,
  type ListConfigurationsResponse,
  type UpdateConfigurationResponse,
} from '../../proto/gen/steward/v1/configurations.js';
import { call, clientsFor, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING MariaDB configuration group end-to-end tests: ${unavailable}`);

const PASSWORD = 'Config-Test-Pw-5521';

describe.skipIf(!!unavailable)('MariaDB configuration groups end to end (controller + agents)', () => {
  let t: TestController;
  let inst: Instance;
  let group: ConfigurationGroup;
  let defaults: ConfigurationDefaultsResponse;

  const groups = () => t.clients.configurations;
  const createGroup = (req: DeepPartial<CreateConfigurationRequest>) =>
    call<object, ConfigurationGroup>(groups(), 'create', CreateConfigurationRequest.fromPartial({ name: 'tuned', datastore: 'mysql', ...req }));
  const updateGroup = (req: DeepPartial<UpdateConfigurationRequest>) =>
    call<object, UpdateConfigurationResponse>(groups(), 'update', UpdateConfigurationRequest.fromPartial({ id: group.id, ...req }));
  const getInstance = (id = inst.id) => call<object, Instance>(t.clients.instances, 'get', { id });
  const finished = async (op: Operation) => {
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 180_000 });
    expect(done.error?.message ?? '', `${op.kind} ${op.id}`).toBe('');
    expect(done.state).toBe(OperationState.SUCCEEDED);
    return done;
  };
  const createInstance = (req: DeepPartial<CreateInstanceRequest>) =>
    call<object, CreateInstanceResponse>(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ datastore: 'mysql', memoryMb: 256, ...req }));
  const serving = (id: string, want = DatastoreStatus.HEALTHY) =>
    waitFor(
      `instance ${id} ${DatastoreStatus[want]}`,
      async () => {
        const i = await getInstance(id);
        return i.status === want && i.task === InstanceTask.NONE && i;
      },
      120_000,
    );

  async function variables(i: Instance, ...names: string[]): Promise<Record<string, string>> {
    const c = await mysql.createConnection({ host: i.host, port: i.port, user: 'app', password: PASSWORD });
    try {
      const [rows] = await c.query<RowDataPacket[]>('SHOW GLOBAL VARIABLES WHERE Variable_name IN (?)', [names]);
      return Object.fromEntries(rows.map((r) => [r.Variable_name as string, String(r.Value)]));
    } finally {
      await c.end();
    }
  }

  /** The my.cnf the agent rendered (local provisioner: each instance's state under the controller's data directory). */
  const myCnf = (id: string): string => readFileSync(join(t.dataDir, 'instances', id, 'etc', 'my.cnf'), 'utf8');

  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 40 });
    defaults = await call<object, ConfigurationDefaultsResponse>(groups(), 'defaults', { datastore: 'mysql', memoryMb: 256 });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('defaults: every rule with what Steward renders for the size asked', () => {
    const names = defaults.rules.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['max_connections', 'long_query_time', 'performance_schema', 'innodb_buffer_pool_size']));
    for (const name of names) expect(defaults.defaults[name], name).toBeDefined();
    expect(defaults.rules.find((r) => r.name === 'performance_schema')?.dynamic).toBe(false);
    expect(defaults.defaults.innodb_buffer_pool_size).toBe(String(128 * 1024 * 1024)); // half of 256 MB
  });

  it('refuses hostile and wrong groups with INVALID_ARGUMENT naming the parameter, and stores nothing', async () => {
    const refusals: Array<[DeepPartial<CreateConfigurationRequest>, string]> = [
      [{ values: { max_connections: '100\ninit_file=/tmp/evil.sql' } }, 'values.max_connections'],
      [{ values: { max_connections: "100'; DROP TABLE x; --" } }, 'values.max_connections'],
      [{ values: { max_connections: '9' } }, 'values.max_connections'],
      [{ values: { max_connections: '1e3' } }, 'values.max_connections'],
      [{ values: { long_query_time: 'NaN' } }, 'values.long_query_time'],
      [{ values: { transaction_isolation: 'read-committed' } }, 'values.transaction_isolation'],
      [{ values: { init_file: '/tmp/evil.sql' } }, 'values.init_file'],
      [{ values: { 'max_connections\n[client]': '100' } }, 'is not a parameter'],
      [{ values: { ['ｍａｘ_connections']: '100' } }, 'is not a parameter'],
      [{ values: { ['x'.repeat(5000)]: '1' } }, 'is not a parameter'],
      [{ values: { server_id: '7' } }, 'values.server_id'],
      [{ values: { slow_query_log: 'on # comment' } }, 'values.slow_query_log'],
      [{ name: '' }, 'name'],
      [{ name: 'bad\u202ename' }, 'name'],
      [{ name: 'n'.repeat(300) }, 'name'],
      [{ datastore: 'nosuch' }, 'datastore'],
    ];
    for (const [req, field] of refusals) {
      await expect(createGroup(req), JSON.stringify(req).slice(0, 80)).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringContaining(field),
      });
    }
    expect((await call<object, ListConfigurationsResponse>(groups(), 'list', {})).groups).toEqual([]);
  });

  it('an instance created with a group starts with its values, in the server and in my.cnf', async () => {
    group = await createGroup({ values: { max_connections: '123', long_query_time: '2.5', slow_query_log: 'ON' }, description: 'busy shop' });
    expect(group.values).toEqual({ max_connections: '123', long_query_time: '2.5', slow_query_log: 'on' });
    const created = await createInstance({
      name: 'shop',
      configurationId: group.id,
      databases: [{ name: 'shop' }],
      users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
    });
    await finished(created.operation!);
    inst = await serving(created.instance!.id);
    expect(inst.configurationId).toBe(group.id);
    expect(await variables(inst, 'max_connections', 'long_query_time', 'slow_query_log')).toEqual({
      max_connections: '123',
      long_query_time: '2.500000',
      slow_query_log: 'ON',
    });
    expect(myCnf(inst.id)).toMatch(/^max_connections = 123$/m);
    expect((await call<object, ConfigurationGroup>(groups(), 'get', { id: group.id })).instanceIds).toEqual([inst.id]);
  });

  it('an update reaches every attached instance: a dynamic value at once, without a restart', async () => {
    const pidBefore = (await call<object, { facts: Record<string, string> }>(t.clients.agents, 'get', { id: inst.id })).facts.pid;
    const res = await updateGroup({ values: { max_connections: '150' } });
    expect(res.group!.values.max_connections).toBe('150');
    expect(res.operations.map((o) => o.instanceId)).toEqual([inst.id]);
    await finished(res.operations[0]!);
    expect(await variables(inst, 'max_connections', 'long_query_time')).toEqual({ max_connections: '150', long_query_time: '2.500000' });
    expect((await call<object, { facts: Record<string, string> }>(t.clients.agents, 'get', { id: inst.id })).facts.pid).toBe(pidBefore);
    expect((await getInstance()).pendingRestart).toEqual([]);
  });

  it('a restart-required value waits, shown as RESTART_REQUIRED, until the instance restarts', async () => {
    const before = myCnf(inst.id);
    const res = await updateGroup({ values: { performance_schema: 'on' } });
    const done = await finished(res.operations[0]!);
    expect(done.result?.result).toMatchObject({ $case: 'configuration', value: { pendingRestart: ['performance_schema'] } });
    const waiting = await getInstance();
    expect(waiting.pendingRestart).toEqual(['performance_schema']);
    expect(waiting.status).toBe(DatastoreStatus.RESTART_REQUIRED);
    expect(await variables(inst, 'performance_schema')).toEqual({ performance_schema: 'OFF' });
    expect(myCnf(inst.id)).not.toBe(before);
    expect(myCnf(inst.id)).toMatch(/^performance_schema = ON$/im);

    await finished(await call<object, Operation>(t.clients.instances, 'restart', { id: inst.id }));
    const after = await serving(inst.id);
    expect(after.pendingRestart).toEqual([]);
    expect(await variables(inst, 'performance_schema', 'max_connections')).toEqual({ performance_schema: 'ON', max_connections: '150' });
  });

  it('a refused update changes nothing: not the group, not the server, not my.cnf', async () => {
    const cnf = myCnf(inst.id);
    for (const values of [{ max_connections: '150\n[mysqld]\ninit_file=/x' }, { max_connections: '-1' }, { 'max connections': '5' }]) {
      await expect(updateGroup({ values })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    }
    await expect(updateGroup({ unset: ['wait_timeout'] })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('unset[0]'),
    });
    expect((await call<object, ConfigurationGroup>(groups(), 'get', { id: group.id })).values.max_connections).toBe('150');
    expect(myCnf(inst.id)).toBe(cnf);
    expect(await variables(inst, 'max_connections')).toEqual({ max_connections: '150' });
  });

  it('wrong states: a second group, an unknown instance, deleting an attached group, another tenant', async () => {
    const other = await createGroup({ name: 'other', values: { wait_timeout: '600' } });
    await expect(call(groups(), 'attach', { instanceId: inst.id, configurationId: other.id })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining('already has configuration group'),
    });
    await expect(call(groups(), 'attach', { instanceId: 'no-such-instance', configurationId: other.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(groups(), 'attach', { instanceId: inst.id, configurationId: "x' OR 1=1 --" })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(groups(), 'delete', { id: group.id })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining('detach it first'),
    });
    await call(groups(), 'delete', { id: other.id });

    const { token } = await call<object, { token: string }>(t.clients.tokens, 'create', { tenantId: 'acme', name: 'acme', admin: false });
    const acme = clientsFor(t.controller.address, t.controller.caFile, token);
    try {
      await expect(call(acme.configurations, 'get', { id: group.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
      expect((await call<object, ListConfigurationsResponse>(acme.configurations, 'list', {})).groups).toEqual([]);
      await expect(
        call(acme.configurations, 'update', UpdateConfigurationRequest.fromPartial({ id: group.id, values: { max_connections: '11' } })),
      ).rejects.toMatchObject({
        code: status.NOT_FOUND,
      });
      const mine = await call<object, ConfigurationGroup>(
        acme.configurations,
        'create',
        CreateConfigurationRequest.fromPartial({ name: 'acme', datastore: 'mysql' }),
      );
      await expect(call(acme.configurations, 'attach', { instanceId: inst.id, configurationId: mine.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      acme.close();
    }
  });

  it('a backup records the group; its restore runs with it', async () => {
    const backup = await call<object, Backup>(t.clients.backups, 'create', CreateBackupApiRequest.fromPartial({ instanceId: inst.id, name: 'with-group' }));
    await waitFor(
      'the backup COMPLETED',
      async () => (await call<object, Backup>(t.clients.backups, 'get', { id: backup.id })).status === BackupStatus.COMPLETED,
      180_000,
    );
    const created = await createInstance({ name: 'shop-restored', backupId: backup.id });
    await finished(created.operation!);
    const restored = await serving(created.instance!.id);
    expect(restored.configurationId).toBe(group.id);
    expect(await variables(restored, 'max_connections', 'performance_schema')).toEqual({ max_connections: '150', performance_schema: 'ON' });
    await call(t.clients.instances, 'delete', { id: restored.id });
  });

  it('detach takes the defaults back, live and in my.cnf; the group can then go', async () => {
    const op = await call<object, Operation>(groups(), 'detach', { id: inst.id });
    const done = await finished(op);
    expect(done.result?.result).toMatchObject({ $case: 'configuration', value: { pendingRestart: ['performance_schema'] } });
    const detached = await getInstance();
    expect(detached.configurationId).toBe('');
    expect(await variables(inst, 'max_connections', 'long_query_time')).toEqual({
      max_connections: defaults.defaults.max_connections,
      long_query_time: Number(defaults.defaults.long_query_time).toFixed(6),
    });
    expect(myCnf(inst.id)).toMatch(new RegExp(`^max_connections = ${defaults.defaults.max_connections}$`, 'm'));
    await waitFor(
      'the restored instance gone',
      async () => (await call<object, ConfigurationGroup>(groups(), 'get', { id: group.id })).instanceIds.length === 0,
      60_000,
    );
    await call(groups(), 'delete', { id: group.id });
    await expect(call(groups(), 'get', { id: group.id })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
