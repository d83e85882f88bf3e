import { pageLimit, pageMarker as markerOf } from '../sdk/paging.js';
import type { Page } from '../sdk/types.js';

export { pageLimit };

/**
 * Markers are role and database names. One is only ever a query parameter,
 * but anything that could not be a name this service returned is refused (a
 * NUL would make the server reject the query with a confusing error).
 */
export const pageMarker = (page: Page | undefined): string => markerOf(page, 64);
