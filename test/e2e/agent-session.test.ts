// The agent and controller over real gRPC with the no-op fixture manager: the
// wire, the journal, the registry and the local provisioner without a datastore.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { isAlive } from '../../controller/provisioner/processes.js';
import { resultOf } from '../../managers/sdk/operations/payload.js';

describe('agent session (no-op manager)', () => {
  let t: TestController;
  let instanceId: string;

  beforeAll(async () => {
    t = await startTestController();
  });
  afterAll(async () => t?.close());

  const getInstance = (id = instanceId) => call<object, Instance>(t.clients.instances, 'get', { id });
  const ping = (echo: string) => call<object, Operation>(t.clients.instances, 'ping', { instanceId, echo });

  it('creates an instance whose agent connects, prepares and reports HEALTHY', async () => {
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'session-1', datastore: 'noop-fixture', memoryMb: 256 }),
    );
    instanceId = res.instance!.id;
    expect(res.operation!.kind).toBe('prepare');
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 30_000 });
    expect(op.state).toBe(OperationState.SUCCEEDED);
    const inst = await waitFor('a HEALTHY heartbeat', async () => {
      const i = await getInstance();
      return i.status === DatastoreStatus.HEALTHY && i;
    });
    expect(inst.agentConnected).toBe(true);
    expect(inst.agentLost).toBe(false);
    expect(inst.task).toBe(1); // NONE
  });

  it('round-trips a no-op operation through the agent', async () => {
    const op = await ping('hello');
    expect(op.state).toBe(OperationState.SUCCEEDED);
    expect(resultOf(op.result, 'noop')?.echo).toBe('hello');
  });

  it('refuses operations the datastore lacks with FAILED_PRECONDITION, before sending anything', async () => {
    const before = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId })).operations.length;
    await expect(call(t.clients.users, 'list', { instanceId })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    await expect(
      call(t.clients.databases, 'create', { instanceId, databases: [{ name: 'x', characterSet: '', collation: '', ctype: '', replication: {} }] }),
    ).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining('No-op fixture'),
    });
    const after = (await call<object, { operations: Operation[] }>(t.clients.operations, 'list', { instanceId })).operations.length;
    expect(after).toBe(before);
  });

  it('survives a controller restart: the agent reconnects and operations still work', async () => {
    await t.restart();
    await waitFor('agent reconnect', async () => (await getInstance()).agentConnected);
    const op = await ping('after-restart');
    expect(resultOf(op.result, 'noop')?.echo).toBe('after-restart');
  });

  it('answers unknown ids with NOT_FOUND and bad input with INVALID_ARGUMENT naming the field', async () => {
    await expect(getInstance('no-such-instance')).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ name: '', datastore: 'mysql' }))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('name'),
    });
    await expect(call(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ name: 'x', datastore: 'oracle' }))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: expect.stringContaining('datastore'),
    });
    await expect(call(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ name: 'bad\u0000name', datastore: 'mysql' }))).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
    const list = await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {});
    expect(list.instances).toHaveLength(1);
  });

  it('deletes the instance: agent process and state directory gone', async () => {
    const pid = await t.controller.provisioner.agentPid(instanceId);
    const dir = t.controller.provisioner.stateDirOf(instanceId);
    expect(pid && isAlive(pid)).toBe(true);
    await call(t.clients.instances, 'delete', { id: instanceId });
    await waitFor('instance gone', async () =>
      getInstance().then(
        () => false,
        (e) => e.code === status.NOT_FOUND,
      ),
    );
    expect(isAlive(pid!)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
