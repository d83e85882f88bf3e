// kill -9 of an agent in the middle of preparing a real MariaDB: the operation
// must end FAILED with a reason, the instance must show an error the user can
// see and delete, and deleting must leave no process (not even the orphaned
// mariadbd) and no directory.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { pidsMentioning } from '../../controller/provisioner/processes.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const unavailable = await mysqlUnavailableReason();
if (unavailable) console.warn(`SKIPPING mysql fault tests: ${unavailable}`);

describe.skipIf(!!unavailable)('MariaDB: agent killed during prepare', () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController();
  });
  afterAll(async () => t?.close());

  it('ends FAILED with a message, the instance in BUILDING_ERROR, and delete leaves nothing behind', async () => {
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'doomed', datastore: 'mysql', memoryMb: 256, databases: [{ name: 'd1' }] }),
    );
    const id = res.instance!.id;
    const opId = res.operation!.id;
    // Wait until the agent is inside prepare (the server is being initialised), then kill it.
    await waitFor(
      'prepare under way',
      async () => {
        const op = await call<object, Operation>(t.clients.operations, 'get', { id: opId });
        return op.state === OperationState.RUNNING && op.progress > 0;
      },
      60_000,
      20,
    );
    const pid = (await t.controller.provisioner.agentPid(id))!;
    process.kill(pid, 'SIGKILL');

    const op = await call<object, Operation>(t.clients.operations, 'wait', { id: opId, timeoutMs: 60_000 });
    expect(op.state).toBe(OperationState.FAILED);
    expect(op.error?.message).toMatch(/agent restarted|agent lost/);
    const inst = await call<object, Instance>(t.clients.instances, 'get', { id });
    expect(inst.task).toBe(InstanceTask.BUILDING_ERROR);
    expect(inst.taskMessage.length).toBeGreaterThan(0);
    // Datastore operations are refused in that state, with the reason.
    await expect(call(t.clients.users, 'list', { instanceId: id })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining('BUILDING_ERROR'),
    });

    const dir = t.controller.provisioner.stateDirOf(id);
    await call(t.clients.instances, 'delete', { id });
    await waitFor(
      'instance gone',
      () =>
        call(t.clients.instances, 'get', { id }).then(
          () => false,
          (e) => e.code === status.NOT_FOUND,
        ),
      120_000,
    );
    expect(pidsMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
