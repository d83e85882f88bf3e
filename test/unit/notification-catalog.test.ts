// The event catalog, the payload builders and the wire formats, checked
// against the JSON Schema that docs/notifications.md documents. The backup and
// cluster payloads have no flow yet: their builders are checked here so the
// workflows that come can rely on them.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALL_EVENT_TYPES, EVENT_CATALOG, operationEventOf } from '../../controller/notifications/catalog.js';
import { osloEnvelope, osloTimestamp, priorityOf, routingKey, troveDate, troveTime } from '../../controller/notifications/message.js';
import { instancePayload, instanceState } from '../../controller/notifications/payloads/instance.js';
import { usersPayload, databasesPayload } from '../../controller/notifications/payloads/resources.js';
import { backupPayload } from '../../controller/notifications/payloads/backup.js';
import { clusterPayload } from '../../controller/notifications/payloads/cluster.js';
import { exceptionOf } from '../../controller/notifications/notifier.js';
import { notificationErrors } from '../../controller/notifications/schema.js';
import type { Notification, Payload } from '../../controller/notifications/types.js';
import { Command } from '../../proto/gen/steward/v1/agent.js';
import type { InstancesTable, OperationsTable } from '../../controller/store/schema.js';
import type { CommandPayload } from '../../managers/sdk/operations/payload.js';
import { payload } from '../../managers/sdk/operations/payload.js';

const settings = { region: 'r1', availabilityZone: null, serviceIds: { mysql: 'svc-mysql' } };
const instance: InstancesTable = {
  replica_set_id: null,
  replica_of: null,
  configuration_id: null,
  pending_restart: '[]',
  volume_size_mb: 0,
  id: randomUUID(),
  tenant_id: 'acme',
  name: 'orders',
  datastore: 'mysql',
  datastore_version: '',
  memory_mb: 512,
  task: 'NONE',
  task_message: '',
  host: '127.0.0.1',
  port: 3306,
  created_at: '2024-05-01T10:00:00.123Z',
  updated_at: '2024-05-01T10:00:00.123Z',
  deleted_at: null,
};
const op = (p: CommandPayload): OperationsTable => ({
  id: randomUUID(),
  instance_id: instance.id,
  kind: 'x',
  state: 2,
  progress: 0,
  message: '',
  command: Buffer.from(Command.encode({ operationId: 'o', deadlineUnixMs: 0, payload: p }).finish()),
  result: null,
  error_code: null,
  error_message: null,
  deadline_at: 0,
  bytes_done: 0,
  bytes_total: 0,
  created_at: '',
  updated_at: '',
});

function notification(eventType: string, payload: Payload): Notification {
  return {
    message_id: randomUUID(),
    publisher_id: 'steward.controller.test',
    event_type: eventType,
    priority: priorityOf(eventType),
    payload,
    timestamp: osloTimestamp(),
  };
}

describe('the event catalog', () => {
  it('holds every type of DESIGN.md section 8, each with .start, .end and .error, all accepted by the schema', () => {
    for (const base of [
      'instance.create',
      'instance.delete',
      'instance.reboot',
      'instance.modify_flavor',
      'instance.modify_volume',
      'instance.migrate',
      'cluster.create',
      'cluster.delete',
      'cluster.resize',
      'backup.create',
      'backup.delete',
      'user.create',
      'user.delete',
      'database.create',
      'database.delete',
      'root.enable',
      'replica.promote',
      'replica.eject',
      'configuration.attach',
      'configuration.detach',
    ]) {
      for (const phase of ['start', 'end', 'error']) expect(ALL_EVENT_TYPES).toContain(`${base}.${phase}`);
    }
    expect(ALL_EVENT_TYPES).toHaveLength(Object.values(EVENT_CATALOG).flat().length * 3);
  });

  it('maps the operations that change something, and nothing for reads, the no-op and the internal destroy', () => {
    expect(
      Object.fromEntries(
        ['prepare', 'restart', 'create_users', 'delete_user', 'create_databases', 'delete_database', 'enable_root'].map((k) => [k, operationEventOf(k)?.type]),
      ),
    ).toEqual({
      prepare: 'instance.create',
      restart: 'instance.reboot',
      create_users: 'user.create',
      delete_user: 'user.delete',
      create_databases: 'database.create',
      delete_database: 'database.delete',
      enable_root: 'root.enable',
    });
    for (const k of ['list_users', 'list_databases', 'get_user', 'list_access', 'root_status', 'noop', 'destroy']) expect(operationEventOf(k)).toBeUndefined();
    // The backup service raises backup.create itself: its outcome is the backup's, not the operation's.
    expect(operationEventOf('create_backup')).toBeUndefined();
    expect(operationEventOf('no_such_kind')).toBeUndefined();
  });
});

describe('payloads', () => {
  it('instance: Trove usage fields, valid for every instance event; .error needs exception and ERROR; delete.end needs deleted_at', () => {
    const p = instancePayload(instance, undefined, settings);
    expect(p).toMatchObject({
      instance_id: instance.id,
      instance_name: 'orders',
      tenant_id: 'acme',
      created_at: '2024-05-01T10:00:00Z',
      launched_at: '2024-05-01T10:00:00Z',
      instance_type: '512MB',
      instance_size: 512,
      state: 'active',
      region: 'r1',
      service_id: 'svc-mysql',
      nova_instance_id: null,
    });
    for (const type of EVENT_CATALOG.instance.flatMap((a) => [`instance.${a}.start`, `instance.${a}.end`])) {
      if (type === 'instance.delete.end') continue;
      expect(notificationErrors(notification(type, p)), type).toEqual([]);
    }
    expect(notificationErrors(notification('instance.create.error', p))).not.toEqual([]);
    expect(notificationErrors(notification('instance.create.error', { ...p, exception: 'INTERNAL: boom' }))).toEqual([]);
    expect(notificationErrors({ ...notification('instance.create.error', { ...p, exception: 'x' }), priority: 'INFO' })).not.toEqual([]);
    expect(notificationErrors(notification('instance.create.end', { ...p, exception: 'x' }))).not.toEqual([]);
    expect(notificationErrors(notification('instance.delete.end', p))).not.toEqual([]);
    const deleted = instancePayload({ ...instance, deleted_at: '2024-05-02T00:00:00.000Z' }, undefined, settings);
    expect(deleted).toMatchObject({ deleted_at: '2024-05-02T00:00:00Z', state: 'deleted' });
    expect(notificationErrors(notification('instance.delete.end', deleted))).toEqual([]);
  });

  it('instance state follows the task as Trove names its statuses', () => {
    const of = (task: string) => instanceState({ task, deleted_at: null });
    expect([of('NONE'), of('BUILDING'), of('REBOOTING'), of('DELETING'), of('BUILDING_ERROR'), of('RESIZING')]).toEqual([
      'active',
      'build',
      'reboot',
      'shutdown',
      'error',
      'resize',
    ]);
  });

  it('users and databases: names only, never a password; unknown fields are refused by the schema', () => {
    const users = usersPayload(
      instance,
      undefined,
      op(payload('createUsers', { users: [{ name: 'app', host: '%', password: 'S3cret-pw', access: [], permissions: '' }] })),
    );
    expect(users.users).toEqual([{ name: 'app', host: '%' }]);
    expect(JSON.stringify(users)).not.toContain('S3cret-pw');
    expect(notificationErrors(notification('user.create.start', users))).toEqual([]);
    expect(notificationErrors(notification('user.create.start', { ...users, password: 'x' }))).not.toEqual([]);
    const dbs = databasesPayload(instance, undefined, op(payload('deleteDatabase', { name: 'shop', force: false })));
    expect(dbs.databases).toEqual([{ name: 'shop' }]);
    expect(notificationErrors(notification('database.delete.error', { ...dbs, exception: 'NOT_FOUND: no' }))).toEqual([]);
  });

  it('backup: the fields of the Trove page, locationRef in camel case, times as the page shows them', () => {
    const p = backupPayload({
      id: randomUUID(),
      name: 'snapshot',
      description: 'My Backup',
      instanceId: instance.id,
      tenantId: 'acme',
      created: '2014-02-13T21:47:16.000Z',
      updated: '2014-02-13T21:47:16.000Z',
      status: 'NEW',
      size: null,
      parentId: null,
      locationRef: null,
    });
    expect(Object.keys(p).sort()).toEqual([
      'created',
      'description',
      'id',
      'instance_id',
      'locationRef',
      'name',
      'parent_id',
      'size',
      'status',
      'tenant_id',
      'updated',
    ]);
    expect(p.created).toBe('2014-02-13T21:47:16');
    for (const type of ['backup.create.start', 'backup.create.end', 'backup.delete.start', 'backup.delete.end'])
      expect(notificationErrors(notification(type, p))).toEqual([]);
    expect(notificationErrors(notification('backup.create.error', { ...p, status: 'FAILED', exception: 'INTERNAL: disk full' }))).toEqual([]);
  });

  it('cluster: id, name, task, times, datastore, cluster_size and the instances list of the Trove page', () => {
    const p = clusterPayload({
      id: randomUUID(),
      name: 'ring',
      task: { id: 2, name: 'BUILDING_INITIAL', description: 'Building the initial cluster.' },
      created: '2024-05-01T10:00:00Z',
      updated: '2024-05-01T10:05:00Z',
      datastore: { type: 'cassandra', version: '4.1' },
      instances: [1, 2, 3].map((i) => ({
        instanceId: randomUUID(),
        name: `ring-${i}`,
        createdAt: '2024-05-01T10:00:00Z',
        volumeSize: 1,
        volumeId: null,
        type: 'member',
      })),
    });
    expect(p.cluster_size).toBe(3);
    expect((p.instances as unknown[])[0]).toMatchObject({ name: 'ring-1', created_at: '2024-05-01T10:00:00', volume_size: 1, volume_id: null, type: 'member' });
    for (const type of ['cluster.create.start', 'cluster.create.end', 'cluster.resize.start', 'cluster.delete.end'])
      expect(notificationErrors(notification(type, p))).toEqual([]);
    expect(notificationErrors(notification('cluster.create.error', { ...p, exception: 'x' }))).toEqual([]);
  });
});

describe('wire formats', () => {
  it('timestamps: oslo.messaging UTC with microseconds; Trove payload times', () => {
    expect(osloTimestamp(new Date('2014-02-13T21:47:16.123Z'))).toBe('2014-02-13 21:47:16.123000');
    expect(troveTime('2014-02-13T21:47:16.999Z')).toBe('2014-02-13T21:47:16Z');
    expect(troveDate('2014-02-13T21:47:16.999Z')).toBe('2014-02-13T21:47:16');
    expect(troveTime(null)).toBeNull();
  });

  it('the oslo v2 envelope carries the message as a JSON string; routing key from the priority', () => {
    const n = notification('instance.reboot.end', instancePayload(instance, undefined, settings));
    const env = osloEnvelope(n);
    expect(env['oslo.version']).toBe('2.0');
    expect(JSON.parse(env['oslo.message'])).toEqual(n);
    expect(Object.keys(JSON.parse(env['oslo.message'])).sort()).toEqual(['event_type', 'message_id', 'payload', 'priority', 'publisher_id', 'timestamp']);
    expect(routingKey('INFO')).toBe('notifications.info');
    expect(routingKey('ERROR')).toBe('notifications.error');
    expect(priorityOf('user.delete.error')).toBe('ERROR');
    expect(priorityOf('user.delete.end')).toBe('INFO');
  });

  it('exception: the error code and message as one string', () => {
    expect(exceptionOf({ error_code: 'ALREADY_EXISTS', error_message: "user 'a'@'%' already exists", message: '' })).toBe(
      "ALREADY_EXISTS: user 'a'@'%' already exists",
    );
    expect(exceptionOf({ error_code: null, error_message: null, message: 'agent restarted' })).toBe('agent restarted');
  });
});
