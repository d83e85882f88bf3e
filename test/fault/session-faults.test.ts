// Faults on the wire with the no-op manager (the MySQL fault tests live in
// test/fault/mysql-faults.test.ts): a cut connection, a re-delivered command, a
// controller restart mid-operation, an agent killed and restarted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';

process.env.STEWARD_NOOP_PREPARE_MS = '3000';

describe('session faults (no-op manager)', () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController();
  });
  afterAll(async () => t?.close());

  const create = async (name: string) =>
    call<object, CreateInstanceResponse>(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ name, datastore: 'noop-fixture' }));
  const getOp = (id: string) => call<object, Operation>(t.clients.operations, 'get', { id });
  const getInstance = (id: string) => call<object, Instance>(t.clients.instances, 'get', { id });
  const runs = (instanceId: string) => Number(readFileSync(join(t.controller.provisioner.stateDirOf(instanceId), 'prepare-count'), 'utf8'));
  const running = (opId: string) => waitFor('operation RUNNING', async () => (await getOp(opId)).state === OperationState.RUNNING, 30_000, 50);

  it('a connection cut mid-operation: the agent redials, the command is re-sent and still runs once', async () => {
    const { instance, operation } = await create('cut');
    await running(operation!.id);
    t.controller.agents.disconnect(instance!.id, 'test cuts the connection');
    await waitFor('reconnect', async () => t.controller.agents.isConnected(instance!.id), 30_000, 50);
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: operation!.id, timeoutMs: 30_000 });
    expect(op.state).toBe(OperationState.SUCCEEDED);
    expect(runs(instance!.id)).toBe(1);
  });

  it('a command re-delivered with the same operation id runs once and its answer is unchanged', async () => {
    const { instance, operation } = await create('redeliver');
    await call(t.clients.operations, 'wait', { id: operation!.id, timeoutMs: 30_000 });
    const row = await t.controller.operations.get(operation!.id);
    const command = t.controller.operations.commandOf(row)!;
    for (let i = 0; i < 3; i++) t.controller.agents.send(instance!.id, { body: { $case: 'command', value: command } });
    await new Promise((r) => setTimeout(r, 500));
    expect(runs(instance!.id)).toBe(1);
    expect((await getOp(operation!.id)).state).toBe(OperationState.SUCCEEDED);
  });

  it('a controller restart mid-operation: the outcome still arrives, exactly once', async () => {
    const { instance, operation } = await create('ctl-restart');
    await running(operation!.id);
    await t.restart();
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: operation!.id, timeoutMs: 30_000 });
    expect(op.state).toBe(OperationState.SUCCEEDED);
    expect(runs(instance!.id)).toBe(1);
    expect((await getInstance(instance!.id)).task).toBe(1); // NONE
  });

  it('an agent killed with SIGKILL mid-operation: FAILED with a reason, instance in BUILDING_ERROR, then heartbeats resume', async () => {
    const { instance, operation } = await create('kill9');
    await running(operation!.id);
    const pid = (await t.controller.provisioner.agentPid(instance!.id))!;
    process.kill(pid, 'SIGKILL');
    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: operation!.id, timeoutMs: 60_000 });
    expect(op.state).toBe(OperationState.FAILED);
    expect(op.error?.message).toMatch(/agent restarted|agent lost/);
    const inst = await getInstance(instance!.id);
    expect(inst.task).toBe(10); // BUILDING_ERROR
    expect(inst.taskMessage).toMatch(/agent/);
    // The supervisor restarted the agent; it reconnects and heartbeats again.
    const before = inst.lastHeartbeatAt;
    await waitFor('fresh heartbeat', async () => {
      const i = await getInstance(instance!.id);
      return i.agentConnected && i.lastHeartbeatAt > before;
    });
    expect(await t.controller.provisioner.agentPid(instance!.id)).not.toBe(pid);
  });
});
