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

/**
 * The marker of a page: the last name of the previous one. It is only ever a
 * query parameter, but anything that could not be a name this service returned
 * is refused (a NUL would make the server reject the query with a confusing error).
 */
export function pageMarker(page: Page | undefined): string {
  const marker = page?.marker ?? '';
  if (marker && !/^[\x20-\x7e]{1,64}$/.test(marker)) throw invalidArgument('page.marker', 'is not a marker this service returned');
  return marker;
}
