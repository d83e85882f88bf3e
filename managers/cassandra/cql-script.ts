// The schema.cql Cassandra writes into every table's snapshot, replayed on
// restore. It is the server's own rendering of the table (with its id, dropped
// columns and indexes), so we run it as written instead of re-deriving the
// schema; but only the statement kinds a snapshot holds, and only on the
// keyspace being restored: a restore never runs GRANTs, DROPs or role changes.
import { failedPrecondition } from '../sdk/errors.js';

/**
 * Statements of a CQL script, without their `;`. Semicolons inside string
 * literals ('it''s; fine'), quoted identifiers, $$-strings and comments do
 * not end a statement (a table comment may contain one).
 */
export function splitCql(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let i = 0;
  const n = text.length;
  const until = (end: string, from: number, doubledEscapes: boolean): number => {
    let j = from;
    for (;;) {
      const k = text.indexOf(end, j);
      if (k < 0) throw failedPrecondition(`schema.cql: unterminated ${end === '*/' ? 'comment' : `${end}-quoted text`}`);
      // '' inside '...' and "" inside "..." are the quote itself, not the end.
      if (doubledEscapes && text.startsWith(end, k + end.length)) {
        j = k + 2 * end.length;
        continue;
      }
      return k + end.length;
    }
  };
  while (i < n) {
    const c = text[i];
    const two = text.slice(i, i + 2);
    let next: number;
    if (c === "'" || c === '"') next = until(c, i + 1, true);
    else if (two === '$$') next = until('$$', i + 2, false);
    else if (two === '--' || two === '//') {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? n : eol;
      continue; // comments are dropped: they carry nothing the server needs
    } else if (two === '/*') {
      i = until('*/', i + 2, false);
      continue;
    } else if (c === ';') {
      if (current.trim()) out.push(current.trim());
      current = '';
      i++;
      continue;
    } else next = i + 1;
    current += text.slice(i, next);
    i = next;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

const IDENT = '("(?:[^"]|"")+"|[A-Za-z0-9_]+)';
const INE = String.raw`(?:IF\s+NOT\s+EXISTS\s+)?`;
/** The statement kinds found in a snapshot's schema.cql, each with where its keyspace name sits. */
const ALLOWED: readonly RegExp[] = [
  new RegExp(String.raw`^CREATE\s+TYPE\s+${INE}${IDENT}\s*\.`, 'i'),
  new RegExp(String.raw`^CREATE\s+TABLE\s+${INE}${IDENT}\s*\.`, 'i'),
  new RegExp(String.raw`^ALTER\s+TABLE\s+${IDENT}\s*\.`, 'i'),
  new RegExp(String.raw`^CREATE\s+(?:CUSTOM\s+)?INDEX\s+${INE}(?:${IDENT}\s+)?ON\s+${IDENT}\s*\.`, 'i'),
];

/** A CQL identifier as the server reads it: unquoted ones fold to lower case. */
export function unquoteIdent(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident.toLowerCase();
}

/** Refuses any statement that is not a type, table, dropped column or index of `keyspace`. */
export function checkSchemaStatement(stmt: string, keyspace: string): void {
  for (const re of ALLOWED) {
    const m = re.exec(stmt);
    if (!m) continue;
    const ks = unquoteIdent(m[m.length - 1]);
    if (ks !== keyspace) throw failedPrecondition(`schema.cql of keyspace ${keyspace} touches keyspace ${ks}: ${stmt.slice(0, 80)}`);
    return;
  }
  throw failedPrecondition(`schema.cql holds a statement a snapshot never has: ${stmt.slice(0, 80)}`);
}
