// Data volumes end to end with real parts: the local provisioner gives a real
// MariaDB an XFS volume on a loop device, the agent reports how full it is,
// the volume grows online under the running server (same pid), a shrink is
// refused, a full filesystem is reported, and deleting the instance leaves no
// mount and no loop device behind.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateInstanceRequest, InstanceTask, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus, OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import { volumeUnavailableReason } from '../../controller/provisioner/volumes.js';
import { call, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { fileEvents } from '../fixtures/notifications-file.js';
import { mysqlUnavailableReason } from '../fixtures/mysql-instance.js';

const unavailable = (await mysqlUnavailableReason()) ?? (await volumeUnavailableReason());
if (unavailable) console.warn(`SKIPPING data volume end-to-end tests: ${unavailable}`);

const PASSWORD = 'Volume-Test-Pw-3381';
const mounts = () => readFileSync('/proc/self/mounts', 'utf8');

describe.skipIf(!!unavailable)('data volumes end to end (local provisioner, MariaDB)', () => {
  let t: TestController;
  let inst: Instance;
  let stateDir: string;

  const get = () => call<object, Instance>(t.clients.instances, 'get', { id: inst.id });
  const serverPid = async () => (await call<object, { facts: Record<string, string> }>(t.clients.agents, 'get', { id: inst.id })).facts.pid;
  const resizeVolume = (volumeSizeMb: number) => call<object, Operation>(t.clients.instances, 'resizeVolume', { id: inst.id, volumeSizeMb });
  const wait = (op: Operation) => call<object, Operation>(t.clients.operations, 'wait', { id: op.id, timeoutMs: 120_000 });

  beforeAll(async () => {
    t = await startTestController({ missedHeartbeats: 40, notifications: { dispatch: { pollMs: 100, retryInitialMs: 100, retryMaxMs: 1_000 } } });
    const created = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({
        name: 'on-a-volume',
        datastore: 'mysql',
        memoryMb: 256,
        volumeSizeMb: 320,
        databases: [{ name: 'shop' }],
        users: [{ name: 'app', password: PASSWORD, host: '%', access: [{ database: 'shop' }] }],
      }),
    );
    const prepared = await wait(created.operation!);
    expect(prepared.state, prepared.error?.message).toBe(OperationState.SUCCEEDED);
    inst = created.instance!;
    stateDir = t.controller.provisioner.stateDirOf(inst.id);
  }, 180_000);

  afterAll(async () => {
    await t?.close();
  });

  it('puts the data on a volume of its own and reports how full it is', async () => {
    expect(mounts()).toContain(` ${join(stateDir, 'data')} xfs `);
    const i = await waitFor('volume facts', async () => {
      const x = await get();
      return x.status === DatastoreStatus.HEALTHY && x.volumeTotalMb > 0 && x;
    });
    expect(i.volumeSizeMb).toBe(320);
    expect(i.volumeTotalMb).toBeGreaterThan(200); // XFS keeps its log and metadata out of the total
    expect(i.volumeTotalMb).toBeLessThanOrEqual(320);
    expect(i.volumeUsedMb).toBeGreaterThan(0);
    expect(i.volumeFull).toBe(false);
  });

  it('refuses what must not happen: too small, a shrink, the same size, no volume', async () => {
    await expect(
      call(t.clients.instances, 'create', CreateInstanceRequest.fromPartial({ name: 'tiny', datastore: 'mysql', volumeSizeMb: 64 })),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('volume_size_mb') });
    await expect(resizeVolume(310)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('never shrunk') });
    await expect(resizeVolume(320)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringContaining('already has') });
    await expect(resizeVolume(99_999_999)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    expect((await get()).volumeSizeMb).toBe(320);
  });

  it('grows online: the same server process, more room, modify_volume start and end', async () => {
    const pid = await serverPid();
    const done = await wait(await resizeVolume(640));
    expect(done.state, done.error?.message).toBe(OperationState.SUCCEEDED);
    expect(await serverPid()).toBe(pid);
    const grown = await waitFor('the bigger volume reported', async () => {
      const x = await get();
      return x.volumeTotalMb > 500 && x.task === InstanceTask.NONE && x;
    });
    expect(grown.volumeSizeMb).toBe(640);
    const c = await mysql.createConnection({ host: inst.host, port: inst.port, user: 'app', password: PASSWORD, database: 'shop' });
    await c.query('CREATE TABLE t (id INT PRIMARY KEY)');
    await c.query('INSERT INTO t VALUES (1)');
    await c.end();
    const events = await waitFor('modify_volume events', async () => {
      const e = fileEvents(t).filter((n) => n.event_type.includes('instance.modify_volume'));
      return e.length >= 2 && e;
    });
    for (const n of events) {
      expect(notificationErrors(n)).toEqual([]);
      expect(n.payload).toMatchObject({ old_volume_size_mb: 320, volume_size_mb: 640 });
    }
  });

  it('reports a full filesystem, and reports it gone when there is room again', async () => {
    const mount = join(stateDir, 'data');
    const free = Number(execFileSync('df', ['-B1', '--output=avail', mount]).toString().trim().split('\n')[1]);
    execFileSync('fallocate', ['-l', String(free - 4 * 1024 * 1024), join(mount, 'filler')]);
    try {
      await waitFor('the full volume reported', async () => (await get()).volumeFull);
    } finally {
      execFileSync('rm', ['-f', join(mount, 'filler')]);
    }
    await waitFor('room again', async () => !(await get()).volumeFull);
  });

  it('deleting the instance leaves no mount and no loop device', async () => {
    const image = join(stateDir, 'volume.img');
    await call(t.clients.instances, 'delete', { id: inst.id });
    await waitFor('instance gone', () =>
      call(t.clients.instances, 'get', { id: inst.id }).then(
        () => false,
        (e) => e.code === status.NOT_FOUND,
      ),
    );
    expect(mounts()).not.toContain(stateDir);
    expect(execFileSync('losetup', ['-j', image]).toString().trim()).toBe('');
  });
});
