// Which payload an operation's event carries. The event types are the SDK's
// catalog (managers/sdk/events.ts); which operation raises which type is the
// operations table's `event`. This file only says how each kind of resource
// an operation event is about builds its payload.
import type { OperationSpec } from '../../managers/sdk/operations/table.js';
import { specOfKind } from '../../managers/sdk/operations/commands.js';
import { resourceKindOf, type EventType, type ResourceKind } from '../../managers/sdk/events.js';
import type { AgentsTable, InstancesTable, OperationsTable } from '../store/schema.js';
import { instancePayload, resizeFields } from './payloads/instance.js';
import { databasesPayload, rootPayload, usersPayload } from './payloads/resources.js';
import type { PayloadSettings } from './payloads/settings.js';
import type { Payload } from './types.js';

export { ALL_EVENT_TYPES, EVENT_CATALOG, PHASES, resourceKindOf } from '../../managers/sdk/events.js';

export interface OperationEventContext {
  op: OperationsTable;
  instance: InstancesTable;
  agent: AgentsTable | undefined;
  settings: PayloadSettings;
}

type PayloadBuilder = (ctx: OperationEventContext) => Payload;

/** The payload of an operation event, by the kind of resource it is about. */
const OPERATION_PAYLOADS: Partial<Record<ResourceKind, PayloadBuilder>> = {
  instance: (c) => ({ ...instancePayload(c.instance, c.agent, c.settings), ...resizeFields(c.op) }),
  user: (c) => usersPayload(c.instance, c.agent, c.op),
  database: (c) => databasesPayload(c.instance, c.agent, c.op),
  root: (c) => rootPayload(c.instance, c.agent, c.op),
};

/** The event an operation of this kind raises from its own lifecycle, with its payload builder; undefined for none. */
export function operationEventOf(kind: string): { type: EventType; payload: PayloadBuilder } | undefined {
  const event = (specOfKind(kind) as OperationSpec | undefined)?.event;
  if (event?.raisedBy !== 'operation') return undefined;
  const payload = OPERATION_PAYLOADS[resourceKindOf(event.type)];
  if (!payload) throw new Error(`operation ${kind} raises ${event.type}, which has no operation payload`);
  return { type: event.type, payload };
}

/** Events about an instance and everything inside it (users, databases, root) share one order. */
export const instanceOrderKey = (instanceId: string): string => `instance:${instanceId}`;
