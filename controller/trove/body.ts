// Shape checks for Trove request bodies: is this field an object, a string,
// an integer, a list. They only check the wire format (JSON types) and name
// the field as Trove's JSON paths do; what a value may be (name characters and
// lengths, datastores, states) is decided by the services behind the facade.
import { badRequest } from './errors.js';

export type Json = Record<string, unknown>;

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

export function obj(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest(`${field}: must be an object, not ${kind(v)}`);
  return v as Json;
}

/** The body's one top-level key (`{"instance": {...}}`), which must be an object. */
export function root(body: unknown, key: string): Json {
  if (body === undefined) throw badRequest(`the request needs a JSON body {"${key}": {...}}`);
  return obj(obj(body, 'body')[key], key);
}

export function optObj(v: unknown, field: string): Json | undefined {
  return v === undefined || v === null ? undefined : obj(v, field);
}

export function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw badRequest(`${field}: must be a string, not ${kind(v)}`);
  return v;
}

export function optStr(v: unknown, field: string): string {
  return v === undefined || v === null ? '' : str(v, field);
}

/** An integer, given as a JSON number or a string of digits (Trove accepts both for ids and sizes). */
export function int(v: unknown, field: string, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw badRequest(`${field}: must be an integer, not ${typeof v === 'string' ? 'the string given' : kind(v)}`);
  if (n < min || n > max) throw badRequest(`${field}: must be between ${min} and ${max}`);
  return n;
}

export function optInt(v: unknown, field: string, min: number, max: number): number | undefined {
  return v === undefined || v === null ? undefined : int(v, field, min, max);
}

export function list(v: unknown, field: string, maxItems: number): unknown[] {
  if (!Array.isArray(v)) throw badRequest(`${field}: must be a list, not ${kind(v)}`);
  if (v.length > maxItems) throw badRequest(`${field}: at most ${maxItems} items`);
  return v;
}

export function optList(v: unknown, field: string, maxItems: number): unknown[] {
  return v === undefined || v === null ? [] : list(v, field, maxItems);
}

/** Trove's boolean flags: true/false, 0/1, or their strings. */
export function flag(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (v === true || v === 1 || v === '1' || v === 'true' || v === 'True') return true;
  if (v === false || v === 0 || v === '0' || v === 'false' || v === 'False') return false;
  throw badRequest(`${field}: must be a boolean (true/false or 1/0)`);
}

/** `{"name": "x"}` items (databases of a user, a grant). */
export function names(v: unknown, field: string, maxItems: number): string[] {
  return list(v, field, maxItems).map((d, i) => str(obj(d, `${field}[${i}]`).name, `${field}[${i}].name`));
}

/** An id from a reference that may be an href (".../flavors/512", ".../backups/<id>"). */
export function refId(v: unknown, field: string): string {
  const s = typeof v === 'number' ? String(v) : str(v, field);
  const id = s.includes('/') ? s.slice(s.replace(/\/+$/, '').lastIndexOf('/') + 1).replace(/\/+$/, '') : s;
  if (!id) throw badRequest(`${field}: is empty`);
  return id;
}
