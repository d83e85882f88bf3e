import type { Page } from '../../proto/gen/steward/v1/common.js';
import { invalidArgument } from '../../managers/sdk/errors.js';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function checkPage(page: Page | undefined): Page {
  const limit = page?.limit || DEFAULT_PAGE;
  if (limit > MAX_PAGE) throw invalidArgument('page.limit', `must be at most ${MAX_PAGE}`);
  const marker = page?.marker ?? '';
  if (marker.length > 512) throw invalidArgument('page.marker', 'is too long');
  return { limit, marker };
}
