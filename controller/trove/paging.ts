// Trove's pagination: `limit` (at most the page size, which is also the
// default) and `marker` (the last id of the previous page). Items are ordered
// by id and a page holds the items after the marker, so a `next` link, whose
// marker is the last id of its page, always moves forward: it can never point
// back to the same page, even when the marker's item was deleted meanwhile.
import { badRequest } from './errors.js';
import type { Link } from './views.js';

export interface PageQuery {
  limit: number;
  marker: string;
}

/** `limit` and `marker` from a query string, checked. */
export function pageQuery(q: Record<string, unknown>, pageSize: number): PageQuery {
  const raw = q.limit;
  let limit = pageSize;
  if (raw !== undefined && raw !== '') {
    if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw) || Number(raw) < 1) throw badRequest('limit: must be a positive integer');
    limit = Math.min(Number(raw), pageSize);
  }
  const marker = q.marker === undefined ? '' : q.marker;
  if (typeof marker !== 'string' || marker.length > 512) throw badRequest('marker: must be one id of at most 512 characters');
  return { limit, marker };
}

/** The URL of the next page: the request's own path and query with `marker` replaced. */
export function nextHref(base: string, path: string, query: Record<string, unknown>, limit: number, marker: string): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (k !== 'marker' && k !== 'limit' && typeof v === 'string') qs.set(k, v);
  qs.set('limit', String(limit));
  qs.set('marker', marker);
  return `${base}/${path}?${qs.toString()}`;
}

/** One page of `items` (ordered by id here) after `q.marker`, and the `next` link if more follow. */
export function paginate<T>(items: readonly T[], idOf: (t: T) => string, q: PageQuery, next: (marker: string) => string): { page: T[]; links: Link[] } {
  const sorted = [...items].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
  const from = q.marker ? sorted.findIndex((t) => idOf(t) > q.marker) : 0;
  const rest = from < 0 ? [] : sorted.slice(from);
  const page = rest.slice(0, q.limit);
  const more = rest.length > page.length;
  return { page, links: more ? [{ rel: 'next', href: next(idOf(page[page.length - 1])) }] : [] };
}
