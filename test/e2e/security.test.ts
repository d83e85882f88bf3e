// Security by construction: identity from the certificate, one-time enrollment,
// revocation, TLS only, and tenant-scoped API tokens. Real controller, real
// agents, real TLS; the rogue agent is a real gRPC client holding A's certificate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { call, clientsFor, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, InstancesClient, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { AgentGatewayClient, EnrollmentClient, type ControllerMessage } from '../../proto/gen/steward/v1/agent.js';
import { DatastoreStatus, type Operation } from '../../proto/gen/steward/v1/common.js';
import { createCsr, generateKeyPair } from '../../managers/sdk/pki.js';
import { hashToken } from '../../controller/tokens.js';
import { payload, resultOf } from '../../managers/sdk/operations/payload.js';
import { updates } from '../../managers/sdk/operations/state.js';
import { StewardError } from '../../managers/sdk/errors.js';

describe('security', () => {
  let t: TestController;
  let a: CreateInstanceResponse;
  let b: CreateInstanceResponse;

  const create = (name: string) =>
    call<object, CreateInstanceResponse>(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ name, datastore: 'noop-fixture' }));
  const get = (id: string) => call<object, Instance>(t.clients.instances, 'get', { id });
  const healthy = (id: string) => waitFor(`${id} HEALTHY`, async () => (await get(id)).status === DatastoreStatus.HEALTHY && (await get(id)).agentConnected);
  const identityOf = (instanceId: string) => {
    const pem = readFileSync(join(t.controller.provisioner.stateDirOf(instanceId), 'secrets', 'agent-identity.pem'), 'utf8');
    return {
      key: Buffer.from(pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/)![0]),
      cert: Buffer.from(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/)![0]),
    };
  };
  const ca = () => readFileSync(t.controller.caFile);
  const enroll = (token: string, instanceId: string) =>
    generateKeyPair().then(async (keys) => {
      const client = new EnrollmentClient(t.controller.address, credentials.createSsl(ca()));
      const csrPem = await createCsr(keys, 'x');
      try {
        return await new Promise((resolve, reject) => client.enroll({ token, instanceId, csrPem }, (err, res) => (err ? reject(err) : resolve(res))));
      } finally {
        client.close();
      }
    });

  beforeAll(async () => {
    t = await startTestController();
    a = await create('tenant-default-a');
    b = await create('tenant-default-b');
    await healthy(a.instance!.id);
    await healthy(b.instance!.id);
  });
  afterAll(async () => t?.close());

  it("an agent holding A's certificate cannot speak for B nor receive B's commands", async () => {
    const { key, cert } = identityOf(a.instance!.id);
    const rogue = new AgentGatewayClient(t.controller.agentAddress, credentials.createSsl(ca(), key, cert));
    const received: ControllerMessage[] = [];
    const stream = rogue.connect();
    stream.on('data', (m: ControllerMessage) => received.push(m));
    stream.on('error', () => undefined);
    // B has an unfinished operation (a ping parked while B's agent is away is not possible: use a new op row).
    const bBefore = await get(b.instance!.id);
    const bOp = await t.controller.operations.start(b.instance!.id, payload('noop', { echo: 'for-b' }));
    await call(t.clients.operations, 'wait', { id: bOp.id, timeoutMs: 10_000 });
    const bOpBefore = await call<object, Operation>(t.clients.operations, 'get', { id: bOp.id });

    stream.write({
      seq: 0,
      body: {
        $case: 'hello',
        value: {
          instanceId: b.instance!.id,
          datastore: 'noop-fixture',
          datastoreVersion: 'evil',
          capabilities: ['users'],
          agentVersion: 'x',
          heartbeatIntervalMs: 500,
          knownOperations: [],
          writeLeaseMs: 0,
          endpointHost: '',
          endpointPort: 0,
        },
      },
    });
    await waitFor('welcome', async () => received.some((m) => m.body?.$case === 'welcome'));
    stream.write({
      seq: 0,
      body: {
        $case: 'heartbeat',
        value: { status: DatastoreStatus.CRASHED, facts: { evil: '1' }, datastoreVersion: 'evil', replication: undefined, sentUnixMs: Date.now() },
      },
    });
    stream.write({
      seq: 1_000_000,
      body: { $case: 'update', value: { ...updates.failed(bOp.id, new StewardError('INTERNAL', 'forged'), 0), message: 'forged' } },
    });
    stream.write({
      seq: 1_000_001,
      body: { $case: 'event', value: { eventType: 'instance.delete.end', payloadJson: JSON.stringify({ instance_id: b.instance!.id }) } },
    });
    // While the rogue holds A's session, B gets a command: it must go to B's real agent only.
    const bPing = await call<object, Operation>(t.clients.instances, 'ping', { instanceId: b.instance!.id, echo: 'only-b' });
    expect(resultOf(bPing.result, 'noop')?.echo).toBe('only-b');
    await new Promise((r) => setTimeout(r, 300));
    stream.cancel();
    rogue.close();

    const bAfter = await get(b.instance!.id);
    expect(bAfter.status).toBe(bBefore.status);
    expect(bAfter.datastoreVersion).not.toBe('evil');
    expect(await call<object, Operation>(t.clients.operations, 'get', { id: bOp.id })).toEqual(bOpBefore);
    const agentB = await t.controller.store.selectFrom('agents').selectAll().where('instance_id', '=', b.instance!.id).executeTakeFirstOrThrow();
    expect(agentB.facts).not.toContain('evil');
    const commandsSeen = received.flatMap((m) => (m.body?.$case === 'command' ? [m.body.value.operationId] : []));
    expect(commandsSeen).not.toContain(bOp.id);
    expect(commandsSeen).not.toContain(bPing.id);
  });

  it('refuses reused, expired and wrong-instance enrollment tokens', async () => {
    // Reused: A's token was spent by A's agent at start-up.
    await expect(enroll(a.enrollmentToken, a.instance!.id)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    // Wrong instance: a fresh token for B presented for A, refused and not spent.
    const fresh = await call<object, { enrollmentToken: string }>(t.clients.instances, 'newEnrollmentToken', { id: b.instance!.id });
    await expect(enroll(fresh.enrollmentToken, a.instance!.id)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(enroll(fresh.enrollmentToken, b.instance!.id)).resolves.toMatchObject({ certificatePem: expect.stringContaining('CERTIFICATE') });
    // Expired: its expiry moved into the past, as if the operator waited too long.
    const late = await call<object, { enrollmentToken: string }>(t.clients.instances, 'newEnrollmentToken', { id: b.instance!.id });
    await t.controller.store
      .updateTable('enrollment_tokens')
      .set({ expires_at: Date.now() - 1 })
      .where('token_hash', '=', hashToken(late.enrollmentToken))
      .execute();
    await expect(enroll(late.enrollmentToken, b.instance!.id)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    // Garbage.
    await expect(enroll("x'; DROP TABLE enrollment_tokens; --", b.instance!.id)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('refuses plain text on both ports', async () => {
    const plain = new InstancesClient(t.controller.address, credentials.createInsecure());
    await expect(
      new Promise((resolve, reject) => plain.list({}, new Metadata(), { deadline: Date.now() + 3_000 }, (e, r) => (e ? reject(e) : resolve(r)))),
    ).rejects.toMatchObject({ code: expect.any(Number) });
    plain.close();
    const gw = new AgentGatewayClient(t.controller.agentAddress, credentials.createInsecure());
    const s = gw.connect();
    const err = await new Promise<ServiceError>((resolve) => s.on('error', resolve));
    expect(err.code).toBe(status.UNAVAILABLE);
    gw.close();
  });

  it('a certificate without the controller CA, or a TLS client without a certificate, cannot reach the gateway', async () => {
    const gw = new AgentGatewayClient(t.controller.agentAddress, credentials.createSsl(ca()));
    const s = gw.connect();
    s.write({
      seq: 0,
      body: {
        $case: 'hello',
        value: {
          instanceId: a.instance!.id,
          datastore: '',
          datastoreVersion: '',
          capabilities: [],
          agentVersion: '',
          heartbeatIntervalMs: 0,
          knownOperations: [],
          writeLeaseMs: 0,
          endpointHost: '',
          endpointPort: 0,
        },
      },
    });
    const err = await new Promise<ServiceError>((resolve) => s.on('error', resolve));
    expect(err.code).toBe(status.UNAVAILABLE);
    gw.close();
  });

  it('API calls: no token and a wrong token are UNAUTHENTICATED; another tenant sees NOT_FOUND and changes nothing', async () => {
    const anon = clientsFor(t.controller.address, t.controller.caFile);
    await expect(call(anon.instances, 'list', {})).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    anon.close();
    const wrong = clientsFor(t.controller.address, t.controller.caFile, 'stw_not-a-real-token');
    await expect(call(wrong.instances, 'get', { id: a.instance!.id })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    wrong.close();

    const { token } = await call<object, { token: string }>(t.clients.tokens, 'create', { tenantId: 'acme', name: 'acme ci', admin: false });
    const acme = clientsFor(t.controller.address, t.controller.caFile, token);
    const id = a.instance!.id;
    const notFound = { code: status.NOT_FOUND };
    await expect(call(acme.instances, 'get', { id })).rejects.toMatchObject(notFound);
    await expect(call(acme.instances, 'delete', { id })).rejects.toMatchObject(notFound);
    await expect(call(acme.instances, 'restart', { id })).rejects.toMatchObject(notFound);
    await expect(call(acme.instances, 'ping', { instanceId: id, echo: '' })).rejects.toMatchObject(notFound);
    await expect(call(acme.users, 'list', { instanceId: id })).rejects.toMatchObject(notFound);
    await expect(call(acme.operations, 'get', { id: a.operation!.id })).rejects.toMatchObject(notFound);
    await expect(call(acme.operations, 'cancel', { id: a.operation!.id })).rejects.toMatchObject(notFound);
    await expect(call(acme.agents, 'revokeCertificates', { id })).rejects.toMatchObject(notFound);
    await expect(call(acme.tokens, 'list', {})).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect((await call<object, { instances: Instance[] }>(acme.instances, 'list', {})).instances).toEqual([]);
    // acme's own instance is visible to acme and to the admin, not the other way round.
    const mine = await call<object, CreateInstanceResponse>(
      acme.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'acme-1', datastore: 'noop-fixture' }),
    );
    expect((await call<object, { instances: Instance[] }>(acme.instances, 'list', {})).instances.map((i) => i.id)).toEqual([mine.instance!.id]);
    await call(acme.instances, 'delete', { id: mine.instance!.id });
    acme.close();
    const stillThere = await get(id);
    expect(stillThere.task).toBe(1); // NONE: untouched
    expect(stillThere.agentConnected).toBe(true);
  });

  it('Tokens.Create refuses hostile tenant ids and names with INVALID_ARGUMENT naming the field, storing nothing', async () => {
    const before = (await call<object, { tokens: unknown[] }>(t.clients.tokens, 'list', {})).tokens.length;
    const cases: Array<[{ tenantId: string; name: string }, string]> = [
      [{ tenantId: '', name: 'ci' }, 'tenant_id'],
      [{ tenantId: 'Acme', name: 'ci' }, 'tenant_id'],
      [{ tenantId: "acme'; DROP TABLE api_tokens; --", name: 'ci' }, 'tenant_id'],
      [{ tenantId: 'x'.repeat(64), name: 'ci' }, 'tenant_id'],
      [{ tenantId: 'ac\u0000me', name: 'ci' }, 'tenant_id'],
      [{ tenantId: 'acme', name: '' }, 'name'],
      [{ tenantId: 'acme', name: '\ud800' }, 'name'], // a lone surrogate, stored as mojibake before
      [{ tenantId: 'acme', name: `it's "quoted"` }, 'name'],
      [{ tenantId: 'acme', name: 'x'.repeat(70_000) }, 'name'],
      [{ tenantId: 'acme', name: 'line\nbreak' }, 'name'],
      [{ tenantId: 'acme', name: 'right\u202eto-left' }, 'name'],
    ];
    for (const [req, field] of cases) {
      await expect(call(t.clients.tokens, 'create', { ...req, admin: false }), JSON.stringify(req).slice(0, 60)).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringContaining(`${field}:`),
      });
    }
    expect((await call<object, { tokens: unknown[] }>(t.clients.tokens, 'list', {})).tokens.length).toBe(before);
    // Names in any script are labels too.
    await expect(call(t.clients.tokens, 'create', { tenantId: 'acme-2', name: 'déploiement ci (nuit)', admin: false })).resolves.toMatchObject({
      token: expect.stringMatching(/^stw_/),
    });
  });

  it('a revoked certificate cannot connect any more', async () => {
    const id = b.instance!.id;
    await call(t.clients.agents, 'revokeCertificates', { id });
    await new Promise((r) => setTimeout(r, 1_500)); // the agent redials meanwhile, and is refused
    const inst = await get(id);
    expect(inst.agentConnected).toBe(false);
    await expect(call(t.clients.instances, 'ping', { instanceId: id, echo: '' })).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});

describe('certificate renewal', () => {
  it('renews the agent certificate before it expires, without restarting the agent', async () => {
    const t = await startTestController({ agentCertificateLifetimeMs: 6_000 });
    try {
      const res = await call<object, CreateInstanceResponse>(
        t.clients.instances,
        'create',
        CreateInstanceRequest.fromPartial({ name: 'renew', datastore: 'noop-fixture' }),
      );
      const id = res.instance!.id;
      const pid = await t.controller.provisioner.agentPid(id);
      await waitFor(
        'two renewals',
        async () => {
          const certs = await t.controller.store
            .selectFrom('certificates')
            .select('serial')
            .where('instance_id', '=', id)
            .where('kind', '=', 'agent')
            .execute();
          return certs.length >= 3;
        },
        30_000,
      );
      // A renewal makes the agent redial with its new certificate; a ping sent in
      // that moment is refused as "not connected" (UNAVAILABLE, by design), and
      // the same agent process answers once it is back.
      let op: Operation | undefined;
      for (let attempt = 1; !op; attempt++) {
        await waitFor('connected', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).agentConnected);
        try {
          op = await call<object, Operation>(t.clients.instances, 'ping', { instanceId: id, echo: 'still-me' });
        } catch (err) {
          const e = err as { code?: number; details?: string };
          if (e.code !== status.UNAVAILABLE || !/is not connected/.test(e.details ?? '') || attempt >= 5) throw err;
        }
      }
      expect(resultOf(op.result, 'noop')?.echo).toBe('still-me');
      expect(await t.controller.provisioner.agentPid(id)).toBe(pid);
    } finally {
      await t.close();
    }
  });
});

describe('insecure development mode', () => {
  it('serves plain text only when asked, and says so', async () => {
    const t = await startTestController({ insecure: true });
    try {
      const plain = clientsFor(t.controller.address);
      expect(await call(plain.instances, 'list', {})).toEqual({ instances: [] });
      plain.close();
    } finally {
      await t.close();
    }
  });
});
