import { pageLimit, pageMarker as markerOf } from '../sdk/paging.js';
import type { Page } from '../sdk/types.js';

export { pageLimit };

/** Markers are compared with names, never sent to the server; anything else printable simply matches nothing. */
export const pageMarker = (page: Page | undefined): string => markerOf(page, 300);
