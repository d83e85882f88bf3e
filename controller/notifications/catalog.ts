// The event catalog (DESIGN.md section 8) and which operation kinds raise which
// events. An operation kind absent from the map raises nothing: reads
// (list_*, get_user, root_status), the no-op, and the internal `destroy`
// (instance deletion raises instance.delete from its own workflow). New
// workflows (backups, clusters, replicas, configurations) register here.
import type { AgentsTable, InstancesTable, OperationsTable } from '../store/schema.js';
import { instancePayload } from './payloads/instance.js';
import { databasesPayload, rootPayload, usersPayload } from './payloads/resources.js';
import type { PayloadSettings } from './payloads/settings.js';
import type { Payload, Phase } from './types.js';

export const PHASES: readonly Phase[] = ['start', 'end', 'error'];

/** Every event type, without its phase; each exists as `.start`, `.end` and `.error`. */
export const EVENT_CATALOG: Readonly<Record<string, readonly string[]>> = {
  instance: ['create', 'delete', 'reboot', 'modify_flavor', 'modify_volume', 'migrate'],
  cluster: ['create', 'delete', 'resize'],
  backup: ['create', 'delete'],
  user: ['create', 'delete'],
  database: ['create', 'delete'],
  root: ['enable'],
  replica: ['promote', 'eject'],
  configuration: ['attach', 'detach'],
};

export const ALL_EVENT_TYPES: readonly string[] = Object.entries(EVENT_CATALOG).flatMap(([kind, actions]) =>
  actions.flatMap((a) => PHASES.map((p) => `${kind}.${a}.${p}`)),
);

export interface OperationEventContext {
  op: OperationsTable;
  instance: InstancesTable;
  agent: AgentsTable | undefined;
  settings: PayloadSettings;
}

export interface OperationEventSpec {
  /** e.g. "user.create"; the phase is appended. */
  type: string;
  payload(ctx: OperationEventContext): Payload;
  /** The resource the event is about and its ordering key; default: the operation's instance. */
  resource?(ctx: OperationEventContext): { id: string; orderKey: string };
}

const instanceEvent = (type: string): OperationEventSpec => ({
  type,
  payload: (c) => instancePayload(c.instance, c.agent, c.settings),
});

const operationEvents = new Map<string, OperationEventSpec>([
  ['prepare', instanceEvent('instance.create')],
  ['restart', instanceEvent('instance.reboot')],
  ['create_users', { type: 'user.create', payload: (c) => usersPayload(c.instance, c.agent, c.op) }],
  ['delete_user', { type: 'user.delete', payload: (c) => usersPayload(c.instance, c.agent, c.op) }],
  ['create_databases', { type: 'database.create', payload: (c) => databasesPayload(c.instance, c.agent, c.op) }],
  ['delete_database', { type: 'database.delete', payload: (c) => databasesPayload(c.instance, c.agent, c.op) }],
  ['enable_root', { type: 'root.enable', payload: (c) => rootPayload(c.instance, c.agent, c.op) }],
]);

export function operationEventOf(kind: string): OperationEventSpec | undefined {
  return operationEvents.get(kind);
}

/** For workflows that come later (backup, cluster, ...): their operation kinds and payloads. */
export function registerOperationEvent(kind: string, spec: OperationEventSpec): void {
  const [resourceKind, action] = spec.type.split('.');
  if (!EVENT_CATALOG[resourceKind]?.includes(action)) throw new Error(`event type ${spec.type} is not in the catalog`);
  operationEvents.set(kind, spec);
}

/** The kind of resource an event type is about: its first segment. */
export const resourceKindOf = (eventType: string): string => eventType.slice(0, eventType.indexOf('.'));

/** Events about an instance and everything inside it (users, databases, root) share one order. */
export const instanceOrderKey = (instanceId: string): string => `instance:${instanceId}`;
