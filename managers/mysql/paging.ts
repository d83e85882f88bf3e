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
