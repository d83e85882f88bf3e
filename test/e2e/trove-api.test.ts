// The Trove v1.0 REST API with the no-op manager (a real controller, agents
// and TLS): authentication and tenancy, Trove's fault format for every
// refusal, hostile bodies and paths that change nothing, paging whose `next`
// never points back, the 501 endpoints, and the real `openstack` and `trove`
// clients on the same server.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { openstackCli, pythonUnavailableReason, troveCli } from '../fixtures/python.js';
import { http, type Answer } from '../fixtures/trove-http.js';
import type { CreateTokenResponse } from '../../proto/gen/steward/v1/api.js';
import { ALL_TENANTS } from '../../controller/tenancy.js';
import { UNFINISHED } from '../../managers/sdk/operations/state.js';

/** Trove's fault body: one key, the fault's name, with the code and a message; the status matches. */
function expectFault(a: Answer, status: number, name: string, message?: RegExp): void {
  expect(a.status, a.text).toBe(status);
  expect(String(a.headers['content-type'])).toMatch(/^application\/json/);
  const body = a.body as Record<string, { code: number; message: string }>;
  expect(Object.keys(body)).toEqual([name]);
  expect(body[name].code).toBe(status);
  expect(typeof body[name].message).toBe('string');
  if (message) expect(body[name].message).toMatch(message);
}

const noPython = await pythonUnavailableReason();
if (noPython) console.warn(`Trove API tests run WITHOUT the Python clients: ${noPython}`);

describe('the Trove v1.0 API (no-op manager)', () => {
  let t: TestController;
  let url: string;
  let ca: Buffer;
  let admin: string;
  let acme: string;
  let globex: string;
  const created: string[] = [];
  const api = (method: string, path: string, opts: Parameters<typeof http>[4] = {}) => http(url, ca, method, path, { token: acme, ...opts });

  /**
   * Every row a refused request could have touched, to prove it changed nothing;
   * taken once no operation runs (an instance made by an earlier test may still
   * be finishing its prepare on a loaded machine, and would change the rows).
   */
  const snapshot = async () => {
    await waitFor('no operation running', async () => {
      const running = await t.controller.store
        .selectFrom('operations')
        .select('id')
        .where('state', 'in', [...UNFINISHED])
        .execute();
      return running.length === 0;
    });
    const db = t.controller.store;
    return JSON.stringify([
      await db.selectFrom('instances').selectAll().orderBy('id').execute(),
      await db.selectFrom('operations').select(['id', 'state']).orderBy('id').execute(),
      await db.selectFrom('backups').select(['id', 'status']).orderBy('id').execute(),
      await db.selectFrom('clusters').select(['id', 'task']).orderBy('id').execute(),
      (await db.selectFrom('notification_outbox').select('seq').execute()).length,
    ]);
  };

  const createNoop = async (name: string, token = acme, tenant = 'acme') => {
    const a = await http(url, ca, 'POST', `/v1.0/${tenant}/instances`, {
      token,
      body: { instance: { name, flavorRef: '256', datastore: { type: 'noop-fixture' } } },
    });
    expect(a.status, a.text).toBe(200);
    const inst = (a.body as { instance: { id: string; status: string } }).instance;
    created.push(inst.id);
    return inst;
  };

  beforeAll(async () => {
    t = await startTestController({ trove: { enabled: true, listen: '127.0.0.1:0', pageSize: 3, waitMs: 20_000 } });
    url = t.controller.troveUrl!;
    ca = readFileSync(t.controller.caFile);
    admin = t.controller.adminToken;
    acme = (await call<object, CreateTokenResponse>(t.clients.tokens, 'create', { tenantId: 'acme', name: 'acme user', admin: false })).token;
    globex = (await call<object, CreateTokenResponse>(t.clients.tokens, 'create', { tenantId: 'globex', name: 'globex user', admin: false })).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves over TLS with a certificate from the controller CA, and version documents', async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const root = await http(url, ca, 'GET', '/');
    expect(root.status).toBe(200);
    expect((root.body as { versions: Array<{ id: string; status: string }> }).versions[0]).toMatchObject({ id: 'v1.0', status: 'CURRENT' });
    expect((await http(url, ca, 'GET', '/v1.0')).status).toBe(200);
  });

  it('refuses a missing or invalid token (401), another tenant (403), a bad tenant id (400), in Trove’s format', async () => {
    expectFault(await http(url, ca, 'GET', '/v1.0/acme/instances'), 401, 'unauthorized', /X-Auth-Token/);
    expectFault(await http(url, ca, 'GET', '/v1.0/acme/instances', { token: 'stw_nope' }), 401, 'unauthorized');
    expectFault(await http(url, ca, 'GET', '/v1.0/acme/instances', { token: 'x'.repeat(10_000) }), 401, 'unauthorized');
    expectFault(await http(url, ca, 'GET', '/v1.0/acme/instances', { token: globex }), 403, 'forbidden', /tenant id globex cannot access/);
    expectFault(await http(url, ca, 'GET', `/v1.0/${encodeURIComponent("acme' OR 1=1")}/instances`, { token: admin }), 400, 'badRequest', /tenant_id/);
  });

  it('creates, lists and shows within the token’s tenant; another tenant sees nothing; an admin may name any tenant', async () => {
    const inst = await createNoop('shop');
    expect(inst.status).toBe('BUILD');
    await waitFor(
      'ACTIVE',
      async () => ((await api('GET', `/v1.0/acme/instances/${inst.id}`)).body as { instance: { status: string } }).instance.status === 'ACTIVE',
    );
    const shown = (await api('GET', `/v1.0/acme/instances/${inst.id}`)).body as { instance: Record<string, unknown> };
    expect(shown.instance).toMatchObject({
      id: inst.id,
      name: 'shop',
      status: 'ACTIVE',
      operating_status: 'HEALTHY',
      flavor: { id: '256' },
      datastore: { type: 'noop-fixture' },
    });
    expect(shown.instance.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(shown.instance.ip).toEqual([expect.stringMatching(/^127\./)]);
    expect((shown.instance.links as Array<{ href: string }>)[0].href).toBe(`${url}/v1.0/acme/instances/${inst.id}`);

    const globexList = await http(url, ca, 'GET', '/v1.0/globex/instances', { token: globex });
    expect((globexList.body as { instances: unknown[] }).instances).toEqual([]);
    expectFault(await http(url, ca, 'GET', `/v1.0/globex/instances/${inst.id}`, { token: globex }), 404, 'itemNotFound');
    const before = await snapshot();
    expectFault(await http(url, ca, 'DELETE', `/v1.0/globex/instances/${inst.id}`, { token: globex }), 404, 'itemNotFound');
    expect(await snapshot()).toBe(before);

    const asAdmin = await http(url, ca, 'GET', '/v1.0/acme/instances', { token: admin });
    expect((asAdmin.body as { instances: Array<{ id: string }> }).instances.map((i) => i.id)).toEqual([inst.id]);
    expect(((await http(url, ca, 'GET', '/v1.0/admin/instances', { token: admin })).body as { instances: unknown[] }).instances).toEqual([]);
  });

  it('pages by id with `limit` and `marker`; a `next` link never points back to the same page', async () => {
    for (const n of ['p1', 'p2', 'p3', 'p4']) await createNoop(n);
    const all = (await t.controller.instances.list(ALL_TENANTS)).filter((i) => i.tenant_id === 'acme').map((i) => i.id);
    expect(all.length).toBe(5);
    const seen: string[] = [];
    let path = '/v1.0/acme/instances?limit=2';
    const pages = new Set<string>();
    for (let i = 0; i < 10 && path; i++) {
      const a = await api('GET', path);
      expect(a.status).toBe(200);
      const body = a.body as { instances: Array<{ id: string }>; links: Array<{ rel: string; href: string }> };
      const ids = body.instances.map((x) => x.id);
      expect(pages.has(ids.join())).toBe(false);
      pages.add(ids.join());
      seen.push(...ids);
      const next = body.links.find((l) => l.rel === 'next');
      if (next) expect(next.href.startsWith(`${url}/v1.0/acme/instances?`)).toBe(true);
      path = next ? next.href.slice(url.length) : '';
    }
    expect(seen).toEqual([...all].sort());
    // The page size caps `limit` (Trove's instances_page_size).
    expect(((await api('GET', '/v1.0/acme/instances?limit=50')).body as { instances: unknown[] }).instances.length).toBe(3);
    // A marker whose instance is gone still moves forward.
    const tail = (await api('GET', `/v1.0/acme/instances?marker=${seen[1].slice(0, 35)}z`)).body as { instances: Array<{ id: string }> };
    expect(tail.instances.every((x) => x.id > seen[1])).toBe(true);
    for (const bad of ['0', '-1', 'abc', '1e3', '9999999999999'])
      expectFault(await api('GET', `/v1.0/acme/instances?limit=${bad}`), 400, 'badRequest', /limit/);
  });

  it('hostile create bodies get Trove’s fault and change nothing', async () => {
    const cases: Array<[unknown, number, string, RegExp?]> = [
      [{}, 400, 'badRequest', /instance/],
      [[], 400, 'badRequest'],
      ['instance', 400, 'badRequest'],
      [{ instance: null }, 400, 'badRequest'],
      [{ instance: [] }, 400, 'badRequest'],
      [{ instance: { flavorRef: '256', datastore: { type: 'noop-fixture' } } }, 400, 'badRequest', /instance\.name/],
      [{ instance: { name: 42, flavorRef: '256' } }, 400, 'badRequest', /instance\.name: must be a string/],
      [{ instance: { name: 'x', datastore: { type: 'noop-fixture' } } }, 400, 'badRequest', /flavorRef/],
      [{ instance: { name: 'x', flavorRef: '999', datastore: { type: 'noop-fixture' } } }, 404, 'itemNotFound', /Flavor 999/],
      [{ instance: { name: 'x', flavorRef: { id: 1 }, datastore: { type: 'noop-fixture' } } }, 400, 'badRequest', /flavorRef/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: 'db2' } } }, 400, 'badRequest', /unknown datastore "db2"/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: "noop'; DROP TABLE instances;--" } } }, 400, 'badRequest', /unknown datastore/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: 'noop-fixture' } }, 400, 'badRequest', /instance\.datastore: must be an object/],
      [{ instance: { name: 'x'.repeat(300), flavorRef: '256', datastore: { type: 'noop-fixture' } } }, 400, 'badRequest', /longer than 255/],
      [{ instance: { name: 'evil\u202Ename', flavorRef: '256', datastore: { type: 'noop-fixture' } } }, 400, 'badRequest', /invisible/],
      [{ instance: { name: 'nul\u0000', flavorRef: '256', datastore: { type: 'noop-fixture' } } }, 400, 'badRequest'],
      [{ instance: { name: '   ', flavorRef: '256', datastore: { type: 'noop-fixture' } } }, 400, 'badRequest', /required/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: 'noop-fixture' }, volume: { size: 'big' } } }, 400, 'badRequest', /volume\.size/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: 'noop-fixture' }, databases: 'shop' } }, 400, 'badRequest', /databases: must be a list/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: 'noop-fixture' }, users: [{ name: 'u' }] } }, 400, 'badRequest', /users\[0\]\.password/],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: 'noop-fixture' }, restorePoint: { backupRef: 'nope' } } }, 404, 'itemNotFound'],
      [{ instance: { name: 'x', flavorRef: '256', replica_count: 2 } }, 400, 'badRequest', /replica_of/],
      [{ instance: { name: 'x', replica_of: '00000000-0000-0000-0000-000000000000' } }, 404, 'itemNotFound'],
      [{ instance: { name: 'x', flavorRef: '256', datastore: { type: 'noop-fixture' }, configuration: 'c1' } }, 501, 'notImplemented'],
    ];
    const before = await snapshot();
    for (const [body, status, name, message] of cases) expectFault(await api('POST', '/v1.0/acme/instances', { body }), status, name, message);
    expect(await snapshot()).toBe(before);
  });

  it('bad JSON, a huge body, another media type: Trove’s fault, nothing changed', async () => {
    const before = await snapshot();
    expectFault(await api('POST', '/v1.0/acme/instances', { raw: '{"instance": {"name": ' }), 400, 'badRequest', /malformed JSON/);
    expectFault(await api('POST', '/v1.0/acme/instances', { raw: '\uFEFF{]' }), 400, 'badRequest');
    expectFault(await api('POST', '/v1.0/acme/instances', { body: { instance: { name: 'x'.repeat(200_000), flavorRef: '256' } } }), 413, 'overLimit');
    expectFault(
      await api('POST', '/v1.0/acme/instances', { raw: 'name=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
      415,
      'badMediaType',
    );
    expectFault(await api('POST', '/v1.0/acme/instances', { raw: '<instance/>', headers: { 'Content-Type': 'application/xml' } }), 415, 'badMediaType');
    expect(await snapshot()).toBe(before);
  });

  it('hostile paths, actions and updates get Trove’s fault and change nothing', async () => {
    const [id] = created;
    const before = await snapshot();
    expectFault(await api('GET', '/v1.0/acme/instances/nope'), 404, 'itemNotFound');
    expectFault(await api('GET', `/v1.0/acme/instances/${encodeURIComponent("' OR '1'='1")}`), 404, 'itemNotFound');
    expectFault(await api('GET', `/v1.0/acme/instances/${'%F0%9F%92%A3'.repeat(20)}`), 404, 'itemNotFound');
    expectFault(await api('GET', `/v1.0/acme/instances/${'a'.repeat(600)}`), 404, 'itemNotFound');
    expectFault(await api('GET', `/v1.0/acme/instances/${'a'.repeat(5000)}`), 414, 'requestURITooLong');
    expectFault(await api('GET', '/v1.0/acme/instances/%E0%A4%A'), 400, 'badRequest');
    expectFault(await api('GET', '/v1.0/acme/no-such-thing'), 404, 'itemNotFound');
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { reboot_everything: {} } }), 400, 'badRequest', /Invalid instance action/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { restart: {}, resize: {} } }), 400, 'badRequest', /exactly one key/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: [] }), 400, 'badRequest');
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`), 400, 'badRequest');
    // The no-op datastore cannot be resized: refused before anything is sent; a volume resize is not Steward's.
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { resize: { flavorRef: '512' } } }), 422, 'unprocessableEntity', /resize/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { resize: { volume: { size: 2 } } } }), 501, 'notImplemented', /volume/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { resize: {} } }), 400, 'badRequest', /flavorRef/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { resize: { flavorRef: '999' } } }), 404, 'itemNotFound', /Flavor 999/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { eject_replica_source: {} } }), 400, 'badRequest', /not a replica source/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/action`, { body: { promote_to_replica_source: {} } }), 422, 'unprocessableEntity');
    expectFault(await api('PUT', `/v1.0/acme/instances/${id}`, { body: { instance: {} } }), 400, 'badRequest', /nothing to update/);
    for (const name of ['', 'a'.repeat(256), 'bad\nname', 'nul\u0000', 'bidi\u202Eevil', 7, null]) {
      expectFault(await api('PUT', `/v1.0/acme/instances/${id}`, { body: { instance: { name } } }), 400, 'badRequest', /instance\.name/);
    }
    // A valid name with a bad second change: refused whole, the name not changed either.
    expectFault(await api('PATCH', `/v1.0/acme/instances/${id}`, { body: { instance: { name: 'ok-name', replica_of: 'x' } } }), 400, 'badRequest');
    expectFault(await api('PATCH', `/v1.0/acme/instances/${id}`, { body: { instance: { name: 'ok-name', flavor: 'x' } } }), 400, 'badRequest');
    expectFault(await api('PUT', `/v1.0/acme/instances/${id}`, { body: { instance: { replica_of: 'x' } } }), 400, 'badRequest');
    expectFault(await api('PATCH', `/v1.0/acme/instances/${id}`, { body: { instance: { datastore_version: '9' } } }), 501, 'notImplemented');
    // The no-op datastore has no users, databases or root: refused before anything is sent.
    expectFault(await api('GET', `/v1.0/acme/instances/${id}/users`), 422, 'unprocessableEntity', /does not support users/);
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/databases`, { body: { databases: [{ name: 'x' }] } }), 422, 'unprocessableEntity');
    expectFault(await api('POST', `/v1.0/acme/instances/${id}/databases`, { body: { databases: 'x' } }), 400, 'badRequest', /databases: must be a list/);
    expectFault(
      await api('POST', `/v1.0/acme/instances/${id}/users`, { body: { users: [{ name: 7, password: 'x' }] } }),
      400,
      'badRequest',
      /users\[0\]\.name/,
    );
    expectFault(
      await api('POST', '/v1.0/acme/backups', { body: { backup: { name: 'b', instance: id } } }),
      422,
      'unprocessableEntity',
      /does not support backup/,
    );
    expectFault(await api('POST', '/v1.0/acme/backups', { body: { backup: { name: 'b' } } }), 400, 'badRequest', /backup\.instance/);
    expectFault(
      await api('POST', '/v1.0/acme/backups', { body: { backup: { name: 'b', instance: id, incremental: 'maybe' } } }),
      400,
      'badRequest',
      /incremental/,
    );
    expectFault(
      await api('POST', '/v1.0/acme/clusters', { body: { cluster: { name: 'c', datastore: { type: 'noop-fixture' }, instances: 'three' } } }),
      400,
      'badRequest',
    );
    expectFault(
      await api('POST', '/v1.0/acme/clusters', { body: { cluster: { name: 'c', datastore: { type: 'noop-fixture' }, instances: [{}, {}] } } }),
      422,
      'unprocessableEntity',
    );
    expectFault(await api('GET', '/v1.0/acme/clusters/nope'), 404, 'itemNotFound');
    expectFault(await api('POST', '/v1.0/acme/clusters/nope', { body: { grow: [{ flavorRef: '512' }] } }), 404, 'itemNotFound');
    expect(await snapshot()).toBe(before);
  });

  it('renames an instance with PUT or PATCH (the display name only), as the openstack client does', async () => {
    const [id] = created;
    const put = await api('PUT', `/v1.0/acme/instances/${id}`, { body: { instance: { name: 'renamed-once' } } });
    expect(put.status, put.text).toBe(202);
    expect(((await api('GET', `/v1.0/acme/instances/${id}`)).body as { instance: { name: string } }).instance.name).toBe('renamed-once');
    const patch = await api('PATCH', `/v1.0/acme/instances/${id}`, { body: { instance: { name: 'Ünïcode name ✓' } } });
    expect(patch.status, patch.text).toBe(202);
    expect((await t.controller.store.selectFrom('instances').select('name').where('id', '=', id).executeTakeFirstOrThrow()).name).toBe('Ünïcode name ✓');
    // Another tenant cannot rename it (it does not exist for them).
    expectFault(await http(url, ca, 'PATCH', `/v1.0/globex/instances/${id}`, { token: globex, body: { instance: { name: 'x' } } }), 404, 'itemNotFound');
    // Back to its name through the real client (`openstack database instance update --name` sends PUT).
    if (noPython) await api('PUT', `/v1.0/acme/instances/${id}`, { body: { instance: { name: 'shop' } } });
    else {
      const r = await openstackCli(`${url}/v1.0/acme`, acme, t.controller.caFile).run('database', 'instance', 'update', id, '--name', 'shop');
      expect(r.code, r.stderr).toBe(0);
    }
    expect(((await api('GET', `/v1.0/acme/instances/${id}`)).body as { instance: { name: string } }).instance.name).toBe('shop');
  });

  it('answers 501 in Trove’s format where Steward has no service yet', async () => {
    const [id] = created;
    for (const path of ['/configurations', '/limits', '/modules', `/instances/${id}/configuration`, `/instances/${id}/log`, '/backup_strategies']) {
      expectFault(await api('GET', `/v1.0/acme${path}`), 501, 'notImplemented', /not implemented by Steward/);
    }
    expectFault(await api('GET', '/v1.0/acme/clusters/x/root'), 404, 'itemNotFound');
    expectFault(await api('POST', '/v1.0/acme/clusters/x/root'), 404, 'itemNotFound');
    expectFault(await api('DELETE', '/v1.0/acme/clusters/x/root'), 501, 'notImplemented');
  });

  it('flavors and datastores: memory sizes with stable ids; datastores by name or id', async () => {
    const flavors = (await api('GET', '/v1.0/acme/flavors')).body as { flavors: Array<{ id: number; str_id: string; ram: number; name: string }> };
    expect(flavors.flavors.find((f) => f.id === 512)).toMatchObject({ str_id: '512', ram: 512, name: '512MB' });
    expect(((await api('GET', '/v1.0/acme/flavors/1024')).body as { flavor: { ram: number } }).flavor.ram).toBe(1024);
    expectFault(await api('GET', '/v1.0/acme/flavors/1000'), 404, 'itemNotFound');
    const ds = (await api('GET', '/v1.0/acme/datastores?limit=3')).body as { datastores: Array<{ id: string; name: string }>; links: unknown[] };
    expect(ds.datastores.length).toBe(3);
    expect(ds.links.length).toBe(1);
    const noop = ((await api('GET', '/v1.0/acme/datastores/noop-fixture')).body as { datastore: { id: string; name: string } }).datastore;
    expect(noop.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(((await api('GET', `/v1.0/acme/datastores/${noop.id}`)).body as { datastore: { name: string } }).datastore.name).toBe('noop-fixture');
    const versions = (await api('GET', '/v1.0/acme/datastores/noop-fixture/versions')).body as { versions: Array<{ id: string; name: string }> };
    expect(versions.versions.length).toBeGreaterThan(0);
    expectFault(await api('GET', '/v1.0/acme/datastores/oracle'), 404, 'itemNotFound');
  });

  it.skipIf(!!noPython)('the real openstack client: list, show, flavors, errors, another tenant', async () => {
    const os = openstackCli(`${url}/v1.0/acme`, acme, t.controller.caFile);
    const list = await os.json<Array<Record<string, string>>>('database', 'instance', 'list', '--limit', '3');
    expect(list.length).toBe(3);
    expect(list[0]).toMatchObject({ Datastore: 'noop-fixture', 'Flavor ID': '256', Status: expect.stringMatching(/ACTIVE|BUILD/) });
    // By name: found on the first page (python-troveclient's find reads one page, as against Trove).
    const shown = await os.json('database', 'instance', 'show', list[0].Name);
    expect(shown).toMatchObject({ id: list[0].ID, status: 'ACTIVE', flavor: '256', datastore: 'noop-fixture' });
    expect(await os.json('database', 'instance', 'show', created[0])).toMatchObject({ name: 'shop', status: 'ACTIVE' });
    const flavors = await os.json<Array<{ ID: number; RAM: number }>>('database', 'flavor', 'list');
    expect(flavors.map((f) => f.RAM)).toContain(512);
    const missing = await os.run('database', 'instance', 'show', '00000000-0000-0000-0000-000000000000');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/No instance with a name or ID of '0{8}-0{4}-0{4}-0{4}-0{12}' exists/);
    const bad = await os.run('database', 'instance', 'create', 'x', '--flavor', '256', '--datastore', 'db2');
    expect(bad.stderr).toMatch(/unknown datastore "db2".*\(HTTP 400\)/);
    const other = openstackCli(`${url}/v1.0/globex`, globex, t.controller.caFile);
    expect(await other.json('database', 'instance', 'list')).toEqual([]);
    const cross = await openstackCli(`${url}/v1.0/acme`, globex, t.controller.caFile).run('database', 'instance', 'list');
    expect(cross.stderr).toMatch(/cannot access this resource.*\(HTTP 403\)/);
  });

  it.skipIf(!!noPython)('the legacy trove CLI authenticates at /auth/v1.0 (with --bypass-url)', async () => {
    const auth = await http(url, ca, 'GET', '/auth/v1.0', { headers: { 'X-Auth-User': 'acme', 'X-Auth-Key': acme } });
    expect(auth.status).toBe(204);
    expect(auth.headers['x-auth-token']).toBe(acme);
    expect(auth.headers['x-server-management-url']).toBe(`${url}/v1.0/acme`);
    expectFault(await http(url, ca, 'GET', '/auth/v1.0', { headers: { 'X-Auth-Key': 'stw_wrong' } }), 401, 'unauthorized');
    expectFault(await http(url, ca, 'GET', '/auth/v1.0', { headers: { 'X-Auth-Key': acme, 'X-Auth-Project-Id': 'globex' } }), 403, 'forbidden');
    const r = await troveCli(url, 'acme', acme, t.controller.caFile).run('list', '--limit', '3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ACTIVE/);
    expect(r.stdout).toContain([...created].sort()[0]);
    const show = await troveCli(url, 'acme', acme, t.controller.caFile).run('show', created[0]);
    expect(show.stdout).toMatch(/ACTIVE/);
    const wrong = await troveCli(url, 'acme', 'stw_wrong', t.controller.caFile).run('list');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Invalid OpenStack Trove credentials/);
  });

  it('deletes (202) and the instance goes away', async () => {
    const id = created[created.length - 1];
    const a = await api('DELETE', `/v1.0/acme/instances/${id}`);
    expect(a.status).toBe(202);
    expect(a.text).toBe('');
    await waitFor('gone', async () => (await api('GET', `/v1.0/acme/instances/${id}`)).status === 404, 60_000);
  });
});
