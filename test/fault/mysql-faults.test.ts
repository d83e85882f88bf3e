// kill -9 of an agent in the middle of preparing a real MariaDB: the operation
// must end FAILED with a reason, the instance must show an error the user can
// see and delete, and deleting must leave no process (not even the orphaned
// mariadbd) and no directory. And in the middle of a resize: the way out is a
// resize, after which agent, server and controller agree on the size.
import { existsSync } from 'node:fs';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type Operation, type RootResult } from '../../proto/gen/steward/v1/common.js';
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

describe.skipIf(!!unavailable)('MariaDB: agent killed during a resize', () => {
  let t: TestController;
  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 40 });
  });
  afterAll(async () => t?.close());

  it('ends FAILED, RESIZING_ERROR refuses all but a resize, and a resize makes agent, server and controller agree', async () => {
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'resized-kill', datastore: 'mysql', memoryMb: 256 }),
    );
    const id = res.instance!.id;
    await call(t.clients.operations, 'wait', { id: res.operation!.id, timeoutMs: 180_000 });
    const idle = () =>
      waitFor(
        'HEALTHY and idle',
        async () => {
          const i = await call<object, Instance>(t.clients.instances, 'get', { id });
          return i.status === DatastoreStatus.HEALTHY && i.task === InstanceTask.NONE && i;
        },
        120_000,
      );
    await idle();
    const resize = await call<object, Operation>(t.clients.instances, 'resize', { id, memoryMb: 384 });
    await waitFor(
      'the resize under way',
      async () => {
        const op = await call<object, Operation>(t.clients.operations, 'get', { id: resize.id });
        return op.state === OperationState.RUNNING && op.progress > 0;
      },
      60_000,
      5,
    );
    process.kill((await t.controller.provisioner.agentPid(id))!, 'SIGKILL');
    const failed = await call<object, Operation>(t.clients.operations, 'wait', { id: resize.id, timeoutMs: 90_000 });
    expect(failed.state).toBe(OperationState.FAILED);
    expect(failed.error?.message).toMatch(/agent restarted|agent lost/);
    const inst = await call<object, Instance>(t.clients.instances, 'get', { id });
    expect(inst.task).toBe(InstanceTask.RESIZING_ERROR);
    expect(inst.memoryMb).toBe(256);
    await expect(call(t.clients.instances, 'restart', { id })).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });

    // Whatever size the agent had recorded when it died, a resize to the size wanted settles it.
    const again = await call<object, Operation>(t.clients.instances, 'resize', { id, memoryMb: 384 });
    const done = await call<object, Operation>(t.clients.operations, 'wait', { id: again.id, timeoutMs: 300_000 });
    expect(done.state, done.error?.message).toBe(OperationState.SUCCEEDED);
    const after = await idle();
    expect(after.memoryMb).toBe(384);
    const root = await call<object, RootResult>(t.clients.root, 'enable', { id });
    const c = await mysql.createConnection({ host: after.host, port: after.port, user: root.user, password: root.password });
    const [rows] = await c.query<RowDataPacket[]>('SELECT @@GLOBAL.innodb_buffer_pool_size AS b');
    await c.end();
    expect(Number(rows[0]!.b)).toBe(192 * 1024 * 1024);
  });
});
