// The ring as this node's system tables describe it: which data centers exist
// and how many nodes each has. Used to check replication requests and to pick
// replication factors that the ring can actually satisfy.
import type { Session } from './connection.js';

export interface Topology {
  localDataCenter: string;
  /** Nodes per data center, this one included. */
  nodes: Map<string, number>;
}

export async function readTopology(s: Session): Promise<Topology> {
  const [local] = await s.rows('SELECT data_center FROM system.local');
  const localDataCenter = String(local?.data_center ?? '');
  const nodes = new Map<string, number>([[localDataCenter, 1]]);
  for (const peer of await s.rows('SELECT data_center FROM system.peers_v2')) {
    const dc = String(peer.data_center ?? '');
    if (dc) nodes.set(dc, (nodes.get(dc) ?? 0) + 1);
  }
  return { localDataCenter, nodes };
}

/** How many nodes the topology counts, all data centers together. */
export const membersIn = (t: Topology): number => [...t.nodes.values()].reduce((a, b) => a + b, 0);

/** Three replicas per data center where there are enough nodes (the usual choice), fewer on small rings. */
export function defaultReplication(t: Topology, perDc = 3): Record<string, number> {
  return Object.fromEntries([...t.nodes].map(([dc, n]) => [dc, Math.max(1, Math.min(perDc, n))]));
}

/** `{'class': 'NetworkTopologyStrategy', 'dc1': 3}`; data center names are validated before they get here. */
export function replicationLiteral(replication: Record<string, number>): string {
  const entries = Object.entries(replication).map(([dc, rf]) => `'${dc.replaceAll("'", "''")}': ${Math.trunc(rf)}`);
  return `{'class': 'NetworkTopologyStrategy', ${entries.join(', ')}}`;
}
