// The shapes every part of the notifications module shares.

export type Priority = 'INFO' | 'ERROR';
export type { Phase } from '../../managers/sdk/events.js';
export type Payload = Record<string, unknown>;

/**
 * One event as oslo.messaging's notifier builds it: what the JSON-lines file
 * holds per line, what the AMQP envelope wraps and what Watch carries.
 */
export interface Notification {
  message_id: string;
  publisher_id: string;
  event_type: string;
  priority: Priority;
  payload: Payload;
  timestamp: string;
}

/** An event about to be written to the outbox (ids and time are added there). */
export interface RaisedEvent {
  eventType: string;
  priority: Priority;
  resourceKind: string;
  resourceId: string;
  /** Events with the same key are delivered in the order they were raised. */
  orderKey: string;
  tenantId: string;
  payload: Payload;
}

/** An outbox row as sinks see it. */
export interface OutboxEvent {
  seq: number;
  orderKey: string;
  resourceKind: string;
  resourceId: string;
  tenantId: string;
  notification: Notification;
}
