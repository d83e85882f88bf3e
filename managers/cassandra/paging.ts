// Cassandra pages: the shared rules (managers/sdk/paging.ts), with markers up to
// 300 characters, and the sorting the system tables do not do.
import { pageLimit, pageMarker as sdkPageMarker } from '../sdk/paging.js';
import type { Page } from '../sdk/types.js';

export { pageLimit };

/** Markers are names this service returned: only compared, never put into CQL. */
export const pageMarker = (page: Page | undefined): string => sdkPageMarker(page, 300);

/**
 * One page of names sorted by code unit (the system tables hand rows out in
 * token order, so sorting happens here; a node has few roles and keyspaces).
 */
export function pageOf<T>(items: T[], name: (item: T) => string, page: Page | undefined): { items: T[]; nextMarker: string } {
  const limit = pageLimit(page);
  const marker = pageMarker(page);
  const sorted = items.filter((i) => name(i) > marker).sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  const items_ = sorted.slice(0, limit);
  return { items: items_, nextMarker: sorted.length > limit ? name(items_.at(-1)!) : '' };
}
