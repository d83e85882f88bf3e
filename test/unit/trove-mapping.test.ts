// The Trove facade's pure mappings: fault bodies per error code, instance
// status from task and probe, paging (a `next` never points back), user ids,
// body shape checks; and the AMQP sink's reading of a declaration mismatch.
import { describe, expect, it } from 'vitest';
import { InstanceTask } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';
import { faultBody, faultOfCode } from '../../controller/trove/errors.js';
import { troveStatus, operatingStatus } from '../../controller/trove/status.js';
import { paginate, pageQuery } from '../../controller/trove/paging.js';
import { userRef } from '../../controller/trove/users.js';
import { flag, int, obj, refId, root, str } from '../../controller/trove/body.js';
import { memoryOfFlavor, nameUuid } from '../../controller/trove/views.js';
import { declarationMismatch } from '../../controller/notifications/sinks/amqp.js';
import { hasCode } from '../../managers/sdk/errors.js';

describe('Trove faults', () => {
  it('map each code to the status and fault name Trove answers with', () => {
    expect(faultOfCode('NOT_FOUND')).toEqual({ status: 404, name: 'itemNotFound' });
    expect(faultOfCode('INVALID_ARGUMENT')).toEqual({ status: 400, name: 'badRequest' });
    expect(faultOfCode('ALREADY_EXISTS')).toEqual({ status: 400, name: 'badRequest' });
    expect(faultOfCode('UNAUTHENTICATED')).toEqual({ status: 401, name: 'unauthorized' });
    expect(faultOfCode('PERMISSION_DENIED')).toEqual({ status: 403, name: 'forbidden' });
    expect(faultOfCode('RESOURCE_EXHAUSTED')).toEqual({ status: 413, name: 'overLimit' });
    expect(faultOfCode('FAILED_PRECONDITION')).toEqual({ status: 422, name: 'unprocessableEntity' });
    expect(faultOfCode('ABORTED')).toEqual({ status: 409, name: 'conflict' });
    expect(faultOfCode('UNIMPLEMENTED')).toEqual({ status: 501, name: 'notImplemented' });
    expect(faultOfCode('UNAVAILABLE')).toEqual({ status: 503, name: 'serviceUnavailable' });
    expect(faultOfCode('INTERNAL')).toEqual({ status: 500, name: 'instanceFault' });
    expect(faultBody(faultOfCode('NOT_FOUND'), 'gone')).toEqual({ itemNotFound: { code: 404, message: 'gone' } });
  });
});

describe('instance status', () => {
  const base = { task: InstanceTask.NONE, taskMessage: '', status: DatastoreStatus.HEALTHY, agentLost: false };
  it('follows Trove: failed task ERROR, running task names it, backup BACKUP, else the datastore', () => {
    expect(troveStatus(base, false)).toEqual({ status: 'ACTIVE' });
    expect(troveStatus({ ...base, status: DatastoreStatus.RUNNING }, false)).toEqual({ status: 'ACTIVE' });
    expect(troveStatus({ ...base, task: InstanceTask.BUILDING, status: DatastoreStatus.UNSPECIFIED }, false)).toEqual({ status: 'BUILD' });
    expect(troveStatus({ ...base, task: InstanceTask.REBOOTING }, true)).toEqual({ status: 'REBOOT' });
    expect(troveStatus({ ...base, task: InstanceTask.RESIZING }, false)).toEqual({ status: 'RESIZE' });
    expect(troveStatus({ ...base, task: InstanceTask.DELETING }, false)).toEqual({ status: 'SHUTDOWN' });
    expect(troveStatus({ ...base, task: InstanceTask.PROMOTING }, false)).toEqual({ status: 'PROMOTE' });
    expect(troveStatus({ ...base, task: InstanceTask.EJECTING }, false)).toEqual({ status: 'EJECT' });
    expect(troveStatus({ ...base, task: InstanceTask.BUILDING_ERROR, taskMessage: 'disk full' }, false)).toEqual({ status: 'ERROR', fault: 'disk full' });
    expect(troveStatus(base, true)).toEqual({ status: 'BACKUP' });
    expect(troveStatus({ ...base, status: DatastoreStatus.SHUTDOWN }, false)).toEqual({ status: 'SHUTDOWN' });
    expect(troveStatus({ ...base, status: DatastoreStatus.CRASHED }, false)).toEqual({ status: 'SHUTDOWN' });
    expect(troveStatus({ ...base, status: DatastoreStatus.BLOCKED }, false)).toEqual({ status: 'BLOCKED' });
    expect(troveStatus({ ...base, status: DatastoreStatus.FAILED }, false)).toEqual({ status: 'FAILED' });
    expect(troveStatus({ ...base, status: DatastoreStatus.RESTART_REQUIRED }, false)).toEqual({ status: 'RESTART_REQUIRED' });
    expect(troveStatus({ ...base, agentLost: true }, false).status).toBe('ERROR');
    expect(operatingStatus(base)).toBe('HEALTHY');
    expect(operatingStatus({ ...base, agentLost: true })).toBe('UNKNOWN');
  });
});

describe('paging', () => {
  const ids = Array.from({ length: 7 }, (_, i) => `id-${i}`);
  it('walks every item once; a next link always moves forward, even past a deleted marker', () => {
    const seen: string[] = [];
    let marker = '';
    const markers = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const { page, links } = paginate(
        [...ids].reverse(),
        (x) => x,
        { limit: 3, marker },
        (m) => `next?marker=${m}`,
      );
      seen.push(...page);
      if (!links.length) break;
      const next = links[0].href.split('=')[1];
      expect(markers.has(next)).toBe(false);
      expect(next > marker).toBe(true);
      markers.add(next);
      marker = next;
    }
    expect(seen).toEqual(ids);
    expect(
      paginate(
        ids,
        (x) => x,
        { limit: 3, marker: 'id-2x' },
        () => '',
      ).page,
    ).toEqual(['id-3', 'id-4', 'id-5']);
    expect(
      paginate(
        ids,
        (x) => x,
        { limit: 3, marker: 'zzz' },
        () => '',
      ),
    ).toEqual({ page: [], links: [] });
    expect(
      paginate(
        ids,
        (x) => x,
        { limit: 7, marker: '' },
        () => '',
      ).links,
    ).toEqual([]);
  });
  it('checks limit and marker, and caps limit at the page size', () => {
    expect(pageQuery({}, 20)).toEqual({ limit: 20, marker: '' });
    expect(pageQuery({ limit: '500' }, 20).limit).toBe(20);
    for (const bad of ['0', '-3', 'x', '1.5', ['1', '2']]) expect(() => pageQuery({ limit: bad }, 20)).toThrow(/limit/);
    expect(() => pageQuery({ marker: 'm'.repeat(513) }, 20)).toThrow(/marker/);
  });
});

describe('request shapes', () => {
  it('user ids are name@host split at the last @, the host defaulting', () => {
    expect(userRef('app@%')).toEqual({ name: 'app', host: '%' });
    expect(userRef('a@b@10.0.0.%')).toEqual({ name: 'a@b', host: '10.0.0.%' });
    expect(userRef('app')).toEqual({ name: 'app', host: '' });
    expect(userRef('app@')).toEqual({ name: 'app', host: '' });
  });
  it('type checks name the field and refuse with INVALID_ARGUMENT', () => {
    const refused = (fn: () => unknown, re: RegExp) => {
      try {
        fn();
        expect.unreachable();
      } catch (err) {
        expect(hasCode(err, 'INVALID_ARGUMENT')).toBe(true);
        expect((err as Error).message).toMatch(re);
      }
    };
    refused(() => root(undefined, 'instance'), /JSON body/);
    refused(() => root({ instance: 'x' }, 'instance'), /instance: must be an object, not a string/);
    refused(() => obj([], 'x'), /not a list/);
    refused(() => str(null, 'instance.name'), /instance\.name: must be a string, not null/);
    refused(() => int('12abc', 'size', 1, 10), /must be an integer/);
    refused(() => int(11, 'size', 1, 10), /between 1 and 10/);
    refused(() => flag('yes', 'incremental'), /boolean/);
    expect(int('7', 'x', 1, 10)).toBe(7);
    expect(flag(1, 'x')).toBe(true);
    expect(refId('https://h/v1.0/t/flavors/512', 'flavorRef')).toBe('512');
    expect(refId(512, 'flavorRef')).toBe('512');
  });
  it('flavors are the memory sizes offered; ids of names are stable UUIDs', () => {
    expect(memoryOfFlavor('1024')).toBe(1024);
    expect(() => memoryOfFlavor('1000')).toThrow(/Flavor 1000 could not be found/);
    expect(() => memoryOfFlavor('0x200')).toThrow();
    expect(nameUuid('mysql')).toBe(nameUuid('mysql'));
    expect(nameUuid('mysql')).not.toBe(nameUuid('mysql', '10.11'));
    expect(nameUuid('mysql')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('AMQP declaration mismatch', () => {
  it('says which object and setting differ, what the broker has, what was declared, and the key to change', () => {
    const broker = new Error(
      "Channel closed by server: 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'trove' in vhost '/': received 'true' but current is 'false'\"",
    );
    const m = declarationMismatch(broker)!;
    expect(m).toMatchObject({ kind: 'exchange', object: 'trove', vhost: '/', argument: 'durable', declared: 'true', existing: 'false' });
    expect(m.message).toContain("exchange 'trove' in vhost '/' exists with durable=false, but this controller declares durable=true");
    expect(m.message).toContain('notifications.amqp.durable: false');
    expect(m.message).toContain('amqp_durable_queues');
    const q = declarationMismatch(
      new Error(
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'notifications.info' in vhost '/': received none but current is the value 'quorum' of type 'longstr'",
      ),
    );
    expect(q).toMatchObject({
      kind: 'queue',
      object: 'notifications.info',
      argument: 'x-queue-type',
      declared: '(none)',
      existing: "the value 'quorum' of type 'longstr'",
    });
    expect(q!.message).toContain('notifications.amqp.declareQueues: false');
    const q2 = declarationMismatch(
      new Error("inequivalent arg 'auto_delete' for queue 'notifications.info' in vhost 'v': received 'false' but current is 'true'"),
    )!;
    expect(q2.message).toContain('notifications.amqp.autoDelete: true');
    expect(declarationMismatch(new Error('connection refused'))).toBeUndefined();
  });
});
