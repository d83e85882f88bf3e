// Databases are keyspaces, always NetworkTopologyStrategy with a replication
// factor per data center. Names are case-sensitive (always double-quoted), so
// `App` and `app` are two keyspaces.
import type { DatabaseOps } from '../sdk/contract.js';
import { alreadyExists, invalidArgument, notFound } from '../sdk/errors.js';
import type { Database, DatabaseList, Page } from '../sdk/types.js';
import type { Session, SessionRunner } from './connection.js';
import { pageOf, pageLimit, pageMarker } from './paging.js';
import { defaultReplication, readTopology, replicationLiteral, type Topology } from './topology.js';
import { quoteCqlIdent } from './validation.js';

const NTS = 'org.apache.cassandra.locator.NetworkTopologyStrategy';

export async function keyspaceExists(s: Session, name: string): Promise<boolean> {
  return (await s.rows('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [name])).length > 0;
}

/** The replication a request asks for, checked against the data centers the ring has. */
export function replicationFor(db: Database, t: Topology, field: string): Record<string, number> {
  const asked = db.replication ?? {};
  if (Object.keys(asked).length === 0) return { [t.localDataCenter]: defaultReplication(t)[t.localDataCenter] };
  for (const dc of Object.keys(asked)) {
    if (!t.nodes.has(dc)) {
      const known = [...t.nodes.keys()].sort().join(', ');
      throw invalidArgument(`${field}.replication`, `unknown data center '${dc}' (this ring has: ${known})`);
    }
  }
  return asked;
}

export async function createKeyspaces(s: Session, dbs: readonly Database[]): Promise<void> {
  const topology = await readTopology(s);
  const plans: Array<{ name: string; replication: Record<string, number> }> = [];
  for (const [i, db] of dbs.entries()) {
    const replication = replicationFor(db, topology, `databases[${i}]`);
    if (await keyspaceExists(s, db.name)) throw alreadyExists(`keyspace '${db.name}' already exists (databases[${i}])`);
    plans.push({ name: db.name, replication });
  }
  const created: string[] = [];
  try {
    for (const p of plans) {
      await s.exec(`CREATE KEYSPACE ${quoteCqlIdent(p.name)} WITH replication = ${replicationLiteral(p.replication)}`);
      created.push(p.name);
    }
  } catch (err) {
    // Only keyspaces created just now, hence empty: safe to drop to keep the request all or nothing.
    for (const name of created) await s.exec(`DROP KEYSPACE IF EXISTS ${quoteCqlIdent(name)}`).catch(() => undefined);
    throw err;
  }
}

function replicationOf(raw: unknown): Record<string, number> {
  const map = (raw ?? {}) as Record<string, string>;
  if (map.class !== NTS) return {};
  return Object.fromEntries(
    Object.entries(map)
      .filter(([k]) => k !== 'class')
      .map(([dc, rf]) => [dc, Number(rf)]),
  );
}

export async function listKeyspaces(s: Session, page: Page): Promise<DatabaseList> {
  pageLimit(page);
  pageMarker(page);
  const rows = await s.rows('SELECT keyspace_name, replication FROM system_schema.keyspaces');
  const all = rows
    .map((r) => ({ name: String(r.keyspace_name), replication: replicationOf(r.replication) }))
    .filter((k) => !k.name.toLowerCase().startsWith('system'));
  const { items, nextMarker } = pageOf(all, (k) => k.name, page);
  return {
    databases: items.map((k) => ({ name: k.name, characterSet: '', collation: '', ctype: '', replication: k.replication })),
    nextMarker,
  };
}

/** Cassandra drops the permissions granted on a keyspace together with it. */
export async function deleteKeyspace(s: Session, name: string): Promise<void> {
  if (!(await keyspaceExists(s, name))) throw notFound(`keyspace '${name}' does not exist`);
  await s.exec(`DROP KEYSPACE ${quoteCqlIdent(name)}`);
}

export function keyspaceOps(session: SessionRunner): DatabaseOps {
  return {
    create: (dbs, op) => session((s) => createKeyspaces(s, dbs), op.signal),
    list: (page, op) => session((s) => listKeyspaces(s, page), op.signal),
    delete: (name, op) => session((s) => deleteKeyspace(s, name), op.signal),
  };
}
