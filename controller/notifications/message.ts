// Wire formats shared by the sinks: oslo.messaging's timestamp and v2 envelope,
// Trove's payload times, and the routing key a priority maps to.
import type { Notification, Priority } from './types.js';

/** UTC as oslo.messaging writes `timestamp` (str(utcnow())): "2014-02-13 21:47:16.123000". */
export function osloTimestamp(d: Date = new Date()): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}.${String(d.getUTCMilliseconds()).padStart(3, '0')}000`;
}

/** Trove's payload times (timeutils.isotime): "2014-02-13T21:47:16Z". */
export function troveTime(iso: string | null | undefined): string | null {
  if (!iso) return null;
  return `${new Date(iso).toISOString().slice(0, 19)}Z`;
}

/** The backup (and cluster) payload times as the Trove page shows them, UTC without a zone: "2014-02-13T21:47:16". */
export function troveDate(iso: string | null | undefined): string | null {
  if (!iso) return null;
  return new Date(iso).toISOString().slice(0, 19);
}

/** The oslo.messaging v2 envelope: the message itself travels as a JSON string. */
export function osloEnvelope(n: Notification): { 'oslo.version': '2.0'; 'oslo.message': string } {
  return { 'oslo.version': '2.0', 'oslo.message': JSON.stringify(n) };
}

/** oslo.messaging's notification topic for a priority: `notifications.info`, `notifications.error`. */
export function routingKey(priority: Priority): string {
  return `notifications.${priority.toLowerCase()}`;
}

export function priorityOf(eventType: string): Priority {
  return eventType.endsWith('.error') ? 'ERROR' : 'INFO';
}
