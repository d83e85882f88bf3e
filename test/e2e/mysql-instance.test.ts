// The whole path with real parts: controller, local provisioner, a real agent
// process over mutual TLS, and a real MariaDB. Ends with a scan of every log
// line of the run for every secret the run produced.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import mysql from 'mysql2/promise';
import { call, capturedLogs, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type DatabaseList, type Operation, type RootResult, type UserList } from '../../proto/gen/steward/v1/common.js';
import { pidsMentioning } from '../../controller/provisioner/processes.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING mysql end-to-end tests: ${unavailable}`);

describe.skipIf(!!unavailable)('MariaDB instance end to end (controller + agent + TLS)', () => {
  let t: TestController;
  let inst: Instance;
  let created: CreateInstanceResponse;
  const secrets: string[] = [];
  const agentLogs: string[] = [];
  const USER_PASSWORD = 'Appuser-Pw-7f3k2';

  const get = () => call<object, Instance>(t.clients.instances, 'get', { id: inst.id });
  const connect = (user: string, password: string, database?: string) => mysql.createConnection({ host: inst.host, port: inst.port, user, password, database });
  const readAgentLogs = () => {
    const dir = t.controller.provisioner.stateDirOf(inst.id);
    agentLogs.push(readFileSync(join(dir, 'agent.log'), 'utf8'));
    for (const f of readdirSync(join(dir, 'secrets'))) {
      if (f.endsWith('.pem')) continue; // key material is scanned below as a block
      secrets.push(readFileSync(join(dir, 'secrets', f), 'utf8').trim());
    }
    const identity = readFileSync(join(dir, 'secrets', 'agent-identity.pem'), 'utf8');
    secrets.push(identity.split('-----BEGIN PRIVATE KEY-----')[1].split('-----END')[0].replace(/\s+/g, '').slice(0, 40));
  };

  beforeAll(async () => {
    t = await startTestController({}, { captureLogs: true });
    secrets.push(t.controller.adminToken, USER_PASSWORD);
  });
  afterAll(async () => t?.close());

  it('creates an instance with a database and a user, and reports HEALTHY', async () => {
    created = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({
        name: 'shop',
        datastore: 'mysql',
        memoryMb: 256,
        databases: [{ name: 'appdb' }],
        users: [{ name: 'appuser', password: USER_PASSWORD, host: '%', access: [{ database: 'appdb' }] }],
      }),
    );
    secrets.push(created.enrollmentToken);
    inst = created.instance!;
    expect(inst.task).toBe(InstanceTask.BUILDING);
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: created.operation!.id, timeoutMs: 180_000 });
    expect(op.error).toBeUndefined();
    expect(op.state).toBe(OperationState.SUCCEEDED);
    inst = await waitFor('HEALTHY heartbeat', async () => {
      const i = await get();
      return i.status === DatastoreStatus.HEALTHY && i;
    });
    expect(inst.task).toBe(InstanceTask.NONE);
    expect(inst.datastoreVersion).toMatch(/MariaDB/i);
  });

  it('lets the created user write and read a row, and lists users and databases', async () => {
    const c = await connect('appuser', USER_PASSWORD, 'appdb');
    await c.query('CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(50))');
    await c.query('INSERT INTO orders VALUES (1, ?)', ['teapot']);
    const [rows] = await c.query('SELECT item FROM orders WHERE id = 1');
    expect(rows).toEqual([{ item: 'teapot' }]);
    await c.end();
    const users = await call<object, UserList>(t.clients.users, 'list', { instanceId: inst.id });
    expect(users.users.map((u) => `${u.name}@${u.host}`)).toEqual(['appuser@%']);
    const dbs = await call<object, DatabaseList>(t.clients.databases, 'list', { instanceId: inst.id });
    expect(dbs.databases.map((d) => d.name)).toEqual(['appdb']);
  });

  it('serves client TLS with a certificate from the controller CA (client requires and verifies it)', async () => {
    const c = await mysql.createConnection({
      host: inst.host,
      port: inst.port,
      user: 'appuser',
      password: USER_PASSWORD,
      ssl: { ca: readFileSync(t.controller.caFile, 'utf8'), rejectUnauthorized: true },
    });
    const [rows] = await c.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    expect((rows as { Value: string }[])[0].Value).not.toBe('');
    await c.end();
    // A CA the server's certificate does not chain to is refused by the client.
    const other = await import('node:tls');
    await expect(
      mysql.createConnection({
        host: inst.host,
        port: inst.port,
        user: 'appuser',
        password: USER_PASSWORD,
        ssl: { ca: other.rootCertificates.slice(0, 3).join('\n'), rejectUnauthorized: true },
      }),
    ).rejects.toThrow();
  });

  it('refuses hostile input at the API with INVALID_ARGUMENT naming the field, nothing sent', async () => {
    const before = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id })).operations.length;
    const hostile = ["x'; DROP DATABASE appdb; --", 'a`b', 'ünïcode', 'x'.repeat(200), 'mysql', 'a\u0000b'];
    for (const name of [...hostile, 'root', 'steward_admin']) {
      await expect(
        call(t.clients.users, 'create', { instanceId: inst.id, users: [{ name, host: '%', password: 'pw123456', access: [], permissions: '' }] }),
      ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('users[0]') });
    }
    for (const name of [...hostile, 'information_schema']) {
      await expect(
        call(t.clients.databases, 'create', { instanceId: inst.id, databases: [{ name, characterSet: '', collation: '', ctype: '', replication: {} }] }),
      ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('databases[0]') });
    }
    const after = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id })).operations.length;
    expect(after).toBe(before);
  });

  it('enables root once, and root connects', async () => {
    const root = await call<object, RootResult>(t.clients.root, 'enable', { id: inst.id });
    secrets.push(root.password);
    expect(root.enabled).toBe(true);
    expect(root.password.length).toBeGreaterThanOrEqual(16);
    const c = await connect(root.user, root.password);
    const [rows] = await c.query('SELECT COUNT(*) AS n FROM appdb.orders');
    expect(rows).toEqual([{ n: 1 }]);
    await c.end();
    const st = await call<object, RootResult>(t.clients.root, 'status', { id: inst.id });
    expect(st).toMatchObject({ enabled: true, password: '' });
    // The stored operation never keeps the password.
    const ops = await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId: inst.id });
    expect(JSON.stringify(ops)).not.toContain(root.password);
  });

  it('restarts, comes back HEALTHY, and the data is still there', async () => {
    const op = await call<object, Operation>(t.clients.instances, 'restart', { id: inst.id });
    expect((await get()).task).toBe(InstanceTask.REBOOTING);
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 120_000 });
    expect(done.state).toBe(OperationState.SUCCEEDED);
    await waitFor('HEALTHY after restart', async () => {
      const i = await get();
      return i.status === DatastoreStatus.HEALTHY && i.task === InstanceTask.NONE;
    });
    const c = await connect('appuser', USER_PASSWORD, 'appdb');
    const [rows] = await c.query('SELECT item FROM orders');
    expect(rows).toEqual([{ item: 'teapot' }]);
    await c.end();
  });

  it('deletes the instance: no process and no directory left', async () => {
    const dir = t.controller.provisioner.stateDirOf(inst.id);
    readAgentLogs();
    expect(pidsMentioning(dir).length).toBeGreaterThanOrEqual(1); // agent and mariadbd
    await call(t.clients.instances, 'delete', { id: inst.id });
    await waitFor(
      'instance gone',
      () =>
        get().then(
          () => false,
          (e) => e.code === status.NOT_FOUND,
        ),
      120_000,
    );
    expect(pidsMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('keeps no secret in clear in the controller store (commands are sealed)', async () => {
    const rows = await t.controller.store.selectFrom('operations').select(['id', 'command', 'result']).execute();
    const stored = rows.map((r) => `${r.command?.toString('latin1') ?? ''}${r.result?.toString('latin1') ?? ''}`).join('');
    expect(rows.length).toBeGreaterThan(3);
    for (const s of secrets) expect(stored).not.toContain(s);
    // ...while the controller itself can still read what it sent (for re-delivery).
    const prepare = rows.find((r) => r.id === created.operation!.id)!;
    const sent = t.controller.operations.commandOf(prepare as never)?.payload;
    expect(sent?.$case === 'prepare' && sent.value.users[0].password).toBe(USER_PASSWORD);
  });

  it('never wrote a secret generated in this run to any log', () => {
    const logs = [...capturedLogs, ...agentLogs].join('\n');
    expect(capturedLogs.length).toBeGreaterThan(10);
    expect(agentLogs.join('').length).toBeGreaterThan(100);
    const found = secrets.filter((s) => s && s.length >= 6 && logs.includes(s));
    expect(found).toEqual([]);
    expect(secrets.length).toBeGreaterThanOrEqual(6);
  });
});
