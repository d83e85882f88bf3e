// A list request's page, read the same way by every manager.
import { invalidArgument } from './errors.js';
import type { Page } from './types.js';

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
 * The marker of a page: the last name of the previous one. Anything that could
 * not be a name this service returned (control characters, longer than
 * `maxLength`) is refused before it reaches a query or a comparison.
 */
export function pageMarker(page: Page | undefined, maxLength: number): string {
  const marker = page?.marker ?? '';
  if (marker && !new RegExp(`^[\\x20-\\x7e]{1,${maxLength}}$`).test(marker)) {
    throw invalidArgument('page.marker', 'is not a marker this service returned');
  }
  return marker;
}
