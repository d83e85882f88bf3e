// The real `openstack database ...` commands (python-openstackclient +
// python-troveclient, admin_token auth, no Keystone) and the legacy `trove`
// CLI against a real controller, agents and MariaDB/MySQL through the Trove
// v1.0 REST API: create with a database and a user, wait ACTIVE, list and
// show, databases and users, root, backup and restore, restart, delete;
// another tenant sees nothing; hostile input on the database and user paths
// (checked by the MySQL manager's own rules) gets Trove's fault and changes
// nothing.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';
import { openstackCli, pythonUnavailableReason, troveCli } from '../fixtures/python.js';
import type { CreateTokenResponse } from '../../proto/gen/steward/v1/api.js';
import type { UserList } from '../../proto/gen/steward/v1/common.js';

const skip = (await mysqlUnavailableReason()) ?? (await pythonUnavailableReason());
if (skip) console.warn(`SKIPPING the Trove client tests against MariaDB: ${skip}`);

type Row = Record<string, unknown>;

describe.skipIf(!!skip)('python-troveclient against Steward with MariaDB', () => {
  let t: TestController;
  let os: ReturnType<typeof openstackCli>;
  let token: string;
  let url: string;
  let id = '';
  let restoredId = '';

  const raw = (method: string, path: string, body?: unknown): Promise<{ status: number; body: Row }> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        new URL(`/v1.0/shop${path}`, url),
        { method, ca: readFileSync(t.controller.caFile), headers: { 'X-Auth-Token': token, ...(data ? { 'Content-Type': 'application/json' } : {}) } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Row) : {} }));
        },
      );
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  const status = async (instance: string) => (await os.json('database', 'instance', 'show', instance)).status as string;
  const waitActive = (instance: string, ms = 240_000) => waitFor(`${instance} ACTIVE`, async () => (await status(instance)) === 'ACTIVE', ms, 500);

  beforeAll(async () => {
    t = await startTestController({ trove: { enabled: true, listen: '127.0.0.1:0' } });
    url = t.controller.troveUrl!;
    token = (await call<object, CreateTokenResponse>(t.clients.tokens, 'create', { tenantId: 'shop', name: 'shop user', admin: false })).token;
    os = openstackCli(`${url}/v1.0/shop`, token, t.controller.caFile);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates an instance with a database and a user, and it becomes ACTIVE', async () => {
    const created = await os.json(
      'database',
      'instance',
      'create',
      'orders',
      '--flavor',
      '512',
      '--datastore',
      'mysql',
      '--databases',
      'shop',
      '--users',
      'app:App-pw-1234',
    );
    expect(created).toMatchObject({ name: 'orders', status: 'BUILD', flavor: '512', datastore: 'mysql' });
    id = created.id as string;
    await waitActive(id);
    const shown = await os.json('database', 'instance', 'show', 'orders');
    expect(shown).toMatchObject({ id, name: 'orders', status: 'ACTIVE', operating_status: 'HEALTHY', flavor: '512', datastore: 'mysql' });
    expect(shown.datastore_version).toMatch(/MariaDB|^\d+\.\d+/);
    expect(shown.ip).toMatch(/^127\./);
    const list = await os.json<Row[]>('database', 'instance', 'list');
    expect(list).toEqual([expect.objectContaining({ ID: id, Name: 'orders', Datastore: 'mysql', Status: 'ACTIVE', 'Flavor ID': '512' })]);
    expect(await os.json<Row[]>('database', 'db', 'list', id)).toEqual([{ Name: 'shop' }]);
    expect(await os.json<Row[]>('database', 'user', 'list', id)).toEqual([{ Name: 'app', Host: '%', Databases: 'shop' }]);
    // The datastore version the server reports is listed.
    const versions = await os.json<Row[]>('datastore', 'version', 'list', 'mysql');
    expect(versions.map((v) => v.Name)).toContain(shown.datastore_version);
  });

  it('databases: create, list, delete; a refusal reaches the client as Trove’s error', async () => {
    expect((await os.run('database', 'db', 'create', id, 'reports', '--character_set', 'utf8mb4', '--collate', 'utf8mb4_bin')).code).toBe(0);
    expect((await os.json<Row[]>('database', 'db', 'list', id)).map((d) => d.Name).sort()).toEqual(['reports', 'shop']);
    const dup = await os.run('database', 'db', 'create', id, 'reports');
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists.*\(HTTP 400\)/);
    expect((await os.run('database', 'db', 'delete', id, 'reports')).code).toBe(0);
    expect((await os.json<Row[]>('database', 'db', 'list', id)).map((d) => d.Name)).toEqual(['shop']);
  });

  it('users: create, show, grant, revoke, password, delete', async () => {
    expect((await os.run('database', 'user', 'create', id, 'reporter', 'Rep-pw-5678', '--host', '10.0.0.%', '--databases', 'shop')).code).toBe(0);
    const shown = await os.json('database', 'user', 'show', id, 'reporter', '--host', '10.0.0.%');
    expect(shown).toMatchObject({ name: 'reporter', host: '10.0.0.%' });
    expect(await os.json<Row[]>('database', 'user', 'show', 'access', id, 'reporter', '--host', '10.0.0.%')).toEqual([{ Name: 'shop' }]);
    expect((await os.run('database', 'user', 'revoke', 'access', id, 'reporter', 'shop', '--host', '10.0.0.%')).code).toBe(0);
    expect(await os.json<Row[]>('database', 'user', 'show', 'access', id, 'reporter', '--host', '10.0.0.%')).toEqual([]);
    expect((await os.run('database', 'user', 'grant', 'access', id, 'reporter', 'shop', '--host', '10.0.0.%')).code).toBe(0);
    expect((await os.run('database', 'user', 'update', 'attributes', id, 'reporter', '--host', '10.0.0.%', '--new_password', 'New-pw-9999')).code).toBe(0);
    const rename = await os.run('database', 'user', 'update', 'attributes', id, 'reporter', '--host', '10.0.0.%', '--new_name', 'other');
    expect(rename.stderr).toMatch(/not implemented by Steward \(HTTP 501\)/);
    expect((await os.run('database', 'user', 'delete', id, 'reporter', '--host', '10.0.0.%')).code).toBe(0);
    expect((await os.json<Row[]>('database', 'user', 'list', id)).map((u) => u.Name)).toEqual(['app']);
  });

  it('root: enable (the password once), show, disable', async () => {
    expect(await os.json('database', 'root', 'show', id)).toMatchObject({ is_root_enabled: false });
    const enabled = await os.json('database', 'root', 'enable', id);
    expect(enabled).toMatchObject({ name: 'root' });
    expect(String(enabled.password).length).toBeGreaterThanOrEqual(16);
    expect(await os.json('database', 'root', 'show', id)).toMatchObject({ is_root_enabled: true });
    expect((await os.run('database', 'root', 'disable', id)).code).toBe(0);
    expect(await os.json('database', 'root', 'show', id)).toMatchObject({ is_root_enabled: false });
  });

  it('hostile database and user input: Trove’s fault from the manager’s own rules, nothing changed', async () => {
    const users = async () => JSON.stringify(await call<object, UserList>(t.clients.users, 'list', { instanceId: id }));
    const dbs = async () => JSON.stringify(await call(t.clients.databases, 'list', { instanceId: id }));
    const before = [await users(), await dbs()];
    const bad: Array<[string, string, unknown, number]> = [
      ['POST', '/databases', { databases: [{ name: 'x`; DROP DATABASE shop; --' }] }, 400],
      ['POST', '/databases', { databases: [{ name: 'd'.repeat(100) }] }, 400],
      ['POST', '/databases', { databases: [{ name: 'ok_db', character_set: 'utf8mb4', collate: 'latin1_swedish_ci' }] }, 400],
      ['POST', '/databases', { databases: [{ name: 'ünïcødé_db' }] }, 400],
      ['POST', '/databases', { databases: [{ name: 'mysql' }] }, 400],
      ['POST', '/databases', { databases: [{ name: 42 }] }, 400],
      ['POST', '/databases', { databases: 'shop' }, 400],
      ['POST', '/users', { users: [{ name: "evil'@'%", password: 'Pw-123456789' }] }, 400],
      ['POST', '/users', { users: [{ name: 'u'.repeat(200), password: 'Pw-123456789' }] }, 400],
      ['POST', '/users', { users: [{ name: 'root', password: 'Pw-123456789' }] }, 400],
      ['POST', '/users', { users: [{ name: 'nopw' }] }, 400],
      ['POST', '/users', { users: [{ name: 'h', password: 'Pw-123456789', host: 'a b;c' }] }, 400],
      ['POST', '/users', { users: [{ name: 'app', password: 'Pw-123456789' }] }, 400],
      ['PUT', '/users/app%40%25/databases', { databases: [{ name: 'no_such_db' }] }, 404],
      ['DELETE', '/users/ghost%40%25', undefined, 404],
      ['DELETE', '/databases/ghost_db', undefined, 404],
      ['GET', `/users/${encodeURIComponent("x' OR '1'='1@%")}`, undefined, 400],
    ];
    for (const [method, path, body, code] of bad) {
      const a = await raw(method, `/instances/${id}${path}`, body);
      expect(a.status, `${method} ${path}: ${JSON.stringify(a.body)}`).toBe(code);
      const [name] = Object.keys(a.body);
      expect(a.body[name]).toMatchObject({ code, message: expect.any(String) });
    }
    expect([await users(), await dbs()]).toEqual(before);
  });

  it('backup, restore into a new instance, restart', async () => {
    const backup = await os.json('database', 'backup', 'create', 'nightly', '--instance', id, '--description', 'before restore');
    expect(backup).toMatchObject({ name: 'nightly', instance_id: id, status: 'NEW' });
    await waitFor('COMPLETED', async () => (await os.json('database', 'backup', 'show', backup.id as string)).status === 'COMPLETED', 240_000, 500);
    const listed = await os.json<Row[]>('database', 'backup', 'list', '--instance-id', id);
    expect(listed).toEqual([expect.objectContaining({ ID: backup.id, Name: 'nightly', Status: 'COMPLETED' })]);
    expect(await os.json<Row[]>('database', 'backup', 'list', '--datastore', 'postgresql')).toEqual([]);
    const inc = await os.run('database', 'backup', 'create', 'inc', '--instance', id, '--parent', backup.id as string);
    expect(inc.code, inc.stderr).toBe(0);

    const restored = await os.json('database', 'instance', 'create', 'orders-copy', '--flavor', '512', '--datastore', 'mysql', '--backup', backup.id as string);
    restoredId = restored.id as string;
    await waitActive(restoredId);
    expect(await os.json<Row[]>('database', 'db', 'list', restoredId)).toEqual([{ Name: 'shop' }]);

    expect((await os.run('database', 'instance', 'restart', id)).code).toBe(0);
    expect(await status(id)).toMatch(/REBOOT|ACTIVE/);
    await waitActive(id);
  });

  it('another tenant’s token sees nothing and cannot reach these instances', async () => {
    const other = (await call<object, CreateTokenResponse>(t.clients.tokens, 'create', { tenantId: 'rival', name: 'rival', admin: false })).token;
    const rival = openstackCli(`${url}/v1.0/rival`, other, t.controller.caFile);
    expect(await rival.json('database', 'instance', 'list')).toEqual([]);
    expect(await rival.json('database', 'backup', 'list')).toEqual([]);
    const show = await rival.run('database', 'instance', 'show', id);
    expect(show.code).not.toBe(0);
    const intoShop = await openstackCli(`${url}/v1.0/shop`, other, t.controller.caFile).run('database', 'db', 'list', id);
    expect(intoShop.stderr).toMatch(/HTTP 403/);
  });

  it('the legacy trove CLI lists and shows the same instances', async () => {
    const cli = troveCli(url, 'shop', token, t.controller.caFile);
    const list = await cli.run('list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toContain(restoredId);
    const dbs = await cli.run('database-list', id);
    expect(dbs.stdout).toContain('shop');
  });

  it('deletes both instances', async () => {
    for (const x of [restoredId, id]) expect((await os.run('database', 'instance', 'delete', x)).code).toBe(0);
    await waitFor('both gone', async () => (await os.json<Row[]>('database', 'instance', 'list')).length === 0, 180_000, 500);
  });
});
