import { invalidArgument } from '../sdk/errors.js';
import type { Page } from '../sdk/types.js';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

/** The page size a request asks for: 0 means the default; above the maximum is refused rather than silently cut. */
export function pageLimit(page: Page | undefined): number {
  const limit = page?.limit ?? 0;
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_PAGE) {
    throw invalidArgument('page.limit', `must be between 0 and ${MAX_PAGE}`);
  }
  return limit || DEFAULT_PAGE;
}

/** Markers are names this service returned: only compared, never put into CQL. */
export function pageMarker(page: Page | undefined): string {
  const marker = page?.marker ?? '';
  if (marker && !/^[\x20-\x7e]{1,300}$/.test(marker)) throw invalidArgument('page.marker', 'is not a marker this service returned');
  return marker;
}

/**
 * One page of names sorted by code unit (the system tables hand rows out in
 * token order, so sorting happens here; a node has few roles and keyspaces).
 */
export function pageOf<T>(items: T[], name: (item: T) => string, page: Page | undefined): { items: T[]; nextMarker: string } {
  const limit = pageLimit(page);
  const marker = pageMarker(page);
  const sorted = items
    .filter((i) => name(i) > marker)
    .sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  const items_ = sorted.slice(0, limit);
  return { items: items_, nextMarker: sorted.length > limit ? name(items_.at(-1)!) : '' };
}
