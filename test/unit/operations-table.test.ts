// The operations table against the wire it serves: every payload of Command
// (read from the .proto itself, not from the generated types the table is
// checked against) has exactly one row, and every row says what the
// controller and the agent need: kind, mutating or read, capabilities,
// deadline, event (or an explicit none), task; and the one entry point both
// sides check commands through refuses what it must, naming the field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_EVENT_TYPES, EVENT_CATALOG } from '../../managers/sdk/events.js';
import { CAPABILITIES, type ManagerIdentity } from '../../managers/sdk/contract.js';
import { ALL_KINDS, checkCommand, specOf, specOfKind } from '../../managers/sdk/operations/commands.js';
import { payload, type CommandPayload, type PayloadCase } from '../../managers/sdk/operations/payload.js';
import { OPERATIONS, type OperationSpec } from '../../managers/sdk/operations/table.js';
import { instanceTasks } from '../../controller/states/instance-task.js';
import { mysqlIdentity } from '../../managers/mysql/identity.js';
import { redisIdentity } from '../../managers/redis/identity.js';
import { BackupType } from '../../proto/gen/steward/v1/backups.js';
import { thrown } from '../fixtures/datastore-assertions.js';

/** The payload fields of `message Command { oneof payload { ... } }`, as written in agent.proto. */
function protoPayloadFields(): string[] {
  const proto = readFileSync('proto/steward/v1/agent.proto', 'utf8');
  const command = proto.slice(proto.indexOf('message Command {'));
  const oneof = command.slice(command.indexOf('oneof payload {'), command.indexOf('\n  }\n'));
  return [...oneof.matchAll(/^\s+\w+ (\w+) = \d+;/gm)].map((m) => m[1]);
}

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const specs = Object.entries(OPERATIONS) as Array<[PayloadCase, OperationSpec]>;

describe('the operations table', () => {
  it('has one row for every payload of Command in agent.proto, and none besides', () => {
    const fields = protoPayloadFields();
    expect(fields.length).toBeGreaterThan(20);
    expect(Object.keys(OPERATIONS).sort()).toEqual(fields.map(camel).sort());
  });

  it('stores each operation under its payload field name, each kind once', () => {
    for (const [c, spec] of specs) expect(camel(spec.kind)).toBe(c);
    expect(new Set(ALL_KINDS).size).toBe(specs.length);
    for (const kind of ALL_KINDS) expect(specOfKind(kind)?.kind).toBe(kind);
    expect(specOfKind('no_such_kind')).toBeUndefined();
  });

  it('gives every kind a deadline, capabilities from the contract, an event or an explicit none, and valid tasks', () => {
    const catalogued = new Set(ALL_EVENT_TYPES.map((t) => t.replace(/\.(start|end|error)$/, '')));
    for (const [c, spec] of specs) {
      expect(spec.deadlineMs, c).toBeGreaterThan(0);
      expect(typeof spec.mutating, c).toBe('boolean');
      expect(spec.event === null || catalogued.has(spec.event.type), c).toBe(true);
      if (spec.event) expect(['operation', 'resource']).toContain(spec.event.raisedBy);
      if (spec.task) {
        expect(instanceTasks.states, c).toContain(spec.task.running);
        expect(instanceTasks.states, c).toContain(spec.task.failed);
      }
    }
    // Capabilities are those of the contract, for every shape of payload the table distinguishes.
    const samples: CommandPayload[] = [
      payload('prepare', {
        memoryMb: 0,
        databases: [],
        users: [],
        bindAddress: '',
        port: 0,
        cluster: undefined,
        restore: undefined,
        replicaOf: undefined,
        configuration: {},
      }),
      payload('createBackup', { backupId: 'b', type: BackupType.INCREMENTAL, parent: undefined, storage: undefined, key: undefined, compression: '' }),
      payload('createUsers', { users: [] }),
      payload('memberInfo', {}),
    ];
    for (const s of samples) for (const cap of specOf(s).needs(s.value)) expect(CAPABILITIES).toContain(cap);
  });

  it('keeps reads quiet: no event, no task, no journal record (not mutating)', () => {
    const reads = specs.filter(([, s]) => !s.mutating).map(([c]) => c);
    expect(reads.sort()).toEqual([
      'getUser',
      'listAccess',
      'listDatabases',
      'listLogs',
      'listUsers',
      'memberInfo',
      'noop',
      'replicationStatus',
      'ringView',
      'rootStatus',
      'showLog',
      'waitForPosition',
    ]);
    for (const c of reads) {
      expect(OPERATIONS[c].event, c).toBeNull();
      expect(OPERATIONS[c].task, c).toBeNull();
    }
  });

  it('refuses data writes on replicas and grants the write lease only where a primary is made', () => {
    const kinds = (pick: (s: (typeof specs)[number][1]) => unknown) =>
      specs
        .filter(([, s]) => pick(s))
        .map(([, s]) => s.kind)
        .sort();
    expect(kinds((s) => s.writesData)).toEqual([
      'change_password',
      'create_databases',
      'create_users',
      'delete_database',
      'delete_user',
      'disable_root',
      'enable_root',
      'grant_access',
      'revoke_access',
    ]);
    expect(kinds((s) => s.grantsLease)).toEqual(['configure_source', 'promote_replica', 'unfence_writes']);
    // Every replication command that changes a member carries the term (prepare: when it makes a replica).
    expect(kinds((s) => s.term)).toEqual([
      'attach_replica',
      'configure_source',
      'fence_writes',
      'prepare',
      'promote_replica',
      'rebuild_replica',
      'rejoin',
      'unfence_writes',
      'wait_for_position',
    ]);
  });

  it('names the events of the seed page for the operations that raise them', () => {
    const events = Object.fromEntries(specs.filter(([, s]) => s.event).map(([, s]) => [s.kind, s.event!.type]));
    expect(events).toEqual({
      prepare: 'instance.create',
      restart: 'instance.reboot',
      create_databases: 'database.create',
      delete_database: 'database.delete',
      create_users: 'user.create',
      delete_user: 'user.delete',
      enable_root: 'root.enable',
      create_backup: 'backup.create',
      resize: 'instance.modify_flavor',
      grow_volume: 'instance.modify_volume',
    });
    expect(OPERATIONS.createBackup.event.raisedBy).toBe('resource');
    expect(Object.keys(EVENT_CATALOG)).toContain('cluster');
  });

  it('only the deletion workflow outlives a lost agent', () => {
    expect(specs.filter(([, s]) => !s.failsWithLostAgent).map(([c]) => c)).toEqual(['destroy']);
  });
});

describe('checkCommand: the one entry point both sides check a command through', () => {
  const mysql: ManagerIdentity = mysqlIdentity;

  it('refuses a missing or unknown payload with INVALID_ARGUMENT', () => {
    expect(thrown(() => checkCommand(undefined, mysql)).field).toBe('command');
    expect(thrown(() => checkCommand({ $case: 'teleport', value: {} } as unknown as CommandPayload, mysql)).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses what the datastore cannot do with FAILED_PRECONDITION naming the datastore, before looking at the input', () => {
    const err = thrown(() => checkCommand(payload('createDatabases', { databases: [] }), redisIdentity));
    expect([err.code, err.message]).toEqual(['FAILED_PRECONDITION', 'datastore Redis does not support databases']);
    const inc = thrown(() =>
      checkCommand(
        payload('createBackup', { backupId: 'b', type: BackupType.INCREMENTAL, parent: undefined, storage: undefined, key: undefined, compression: '' }),
        redisIdentity,
      ),
    );
    expect(inc.message).toBe('datastore Redis does not support incremental backups');
    expect(thrown(() => checkCommand(payload('setSeeds', { seeds: ['10.0.0.1'] }), mysql)).message).toMatch(/does not support clusters/);
  });

  it('refuses hostile input with INVALID_ARGUMENT naming the field: injection, unicode, overlong, reserved, empty lists', () => {
    const user = (name: string) => ({ name, host: '%', password: 'pw', access: [], permissions: '' });
    const cases: Array<[CommandPayload, string]> = [
      [payload('createUsers', { users: [] }), 'users'],
      [payload('createUsers', { users: [user("x'; DROP USER root; --")] }), 'users[0].name'],
      [payload('createUsers', { users: [user('ünïcode')] }), 'users[0].name'],
      [payload('createUsers', { users: [user('x'.repeat(33))] }), 'users[0].name'],
      [payload('createUsers', { users: [user('root')] }), 'users[0].name'],
      [payload('createUsers', { users: [user('a'), user('a')] }), 'users[1]'],
      [payload('createDatabases', { databases: [{ name: 'mysql', characterSet: '', collation: '', ctype: '', replication: {} }] }), 'databases[0].name'],
      [payload('deleteDatabase', { name: 'a`b', force: false }), 'name'],
      [payload('grantAccess', { user: user('app'), databases: [] }), 'databases'],
      [payload('grantAccess', { user: undefined, databases: ['shop'] }), 'user'],
      [payload('changePassword', { user: user('app'), password: '' }), 'password'],
      [payload('listUsers', { page: { limit: 5_000, marker: '' } }), 'page.limit'],
      [
        payload('prepare', {
          memoryMb: 0,
          databases: [],
          users: [{ ...user('app'), access: [{ database: 'shop' }] }],
          bindAddress: '',
          port: 0,
          cluster: undefined,
          restore: undefined,
          replicaOf: undefined,
          configuration: {},
        }),
        'users[0].access[0].database',
      ],
    ];
    for (const [p, field] of cases) {
      const err = thrown(() => checkCommand(p, mysql));
      expect([err.code, err.field], `${p.$case} ${JSON.stringify(p.value).slice(0, 80)}`).toEqual(['INVALID_ARGUMENT', field]);
    }
  });

  it('accepts what is valid and returns its row', () => {
    const spec = checkCommand(payload('createUsers', { users: [{ name: 'app', host: '%', password: 'S3cret', access: [], permissions: '' }] }), mysql);
    expect(spec).toBe(OPERATIONS.createUsers as unknown as OperationSpec);
  });
});
