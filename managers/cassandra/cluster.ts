// Cluster member operations: what one node does when the controller's
// orchestration grows, shrinks or inspects a ring. The sequencing across nodes
// (who is a seed, who bootstraps when, when cleanup runs) is the
// orchestration's business; each call here acts on this node only.
import { writeFile } from 'node:fs/promises';
import type { ClusterOps, OperationScope } from '../sdk/contract.js';
import { invalidArgument } from '../sdk/errors.js';
import type { Endpoint, SessionRunner } from './connection.js';
import type { NodeSettings } from './config.js';
import type { AdminAccess } from './credentials.js';
import { parseStatus } from './nodetool.js';
import type { CassandraPaths } from './paths.js';
import { secureNode } from './secure.js';

export type { ClusterOps };

/** What the cluster operations need from the manager. */
export interface ClusterDeps {
  paths: CassandraPaths;
  access: AdminAccess;
  requirePrepared(): Promise<void>;
  settings(): Promise<NodeSettings>;
  /** Saves the settings and renders the config files from them, the configuration group included. */
  writeConfig(settings: NodeSettings): Promise<void>;
  endpoint(): Promise<Endpoint>;
  session: SessionRunner;
  nodetool(args: string[], signal: AbortSignal, timeoutMs?: number): Promise<string>;
  /** Drains and stops the server (through service control). */
  stopServer(op: OperationScope): Promise<void>;
  isDecommissioned(): Promise<boolean>;
}

/** Cleanup and decommission move data: bounded by the operation's deadline, not by a guess here. */
const LONG_TOOL_TIMEOUT_MS = 24 * 60 * 60_000;

export function clusterOps(d: ClusterDeps): ClusterOps {
  const rewrite = async (change: Partial<NodeSettings>): Promise<void> => {
    await d.requirePrepared();
    await d.writeConfig({ ...(await d.settings()), ...change });
  };
  return {
    async memberInfo(op) {
      await d.requirePrepared();
      return d.session(async (s) => {
        const [row] = await s.rows('SELECT data_center, rack, host_id, broadcast_address, listen_address FROM system.local');
        return {
          dataCenter: String(row?.data_center ?? ''),
          rack: String(row?.rack ?? ''),
          hostId: row?.host_id ? String(row.host_id) : '',
          address: String(row?.broadcast_address ?? row?.listen_address ?? ''),
        };
      }, op.signal);
    },

    async setSeeds(seeds, op) {
      await rewrite({ seeds: [...seeds] });
      op.progress(100, 'seeds written to cassandra.yaml; they take effect when the node restarts');
    },

    async setAutoBootstrap(enabled, op) {
      if (typeof enabled !== 'boolean') throw invalidArgument('auto_bootstrap', 'must be true or false');
      await rewrite({ autoBootstrap: enabled });
      op.progress(100, `auto_bootstrap ${enabled} written to cassandra.yaml; it takes effect when the node restarts`);
    },

    async ringView(op) {
      await d.requirePrepared();
      return parseStatus(await d.nodetool(['status'], op.signal));
    },

    async cleanup(op) {
      await d.requirePrepared();
      op.progress(10, 'removing data this node no longer owns');
      await d.nodetool(['cleanup'], op.signal, LONG_TOOL_TIMEOUT_MS);
      op.progress(100, 'cleanup finished');
    },

    async decommission(op) {
      await d.requirePrepared();
      if (await d.isDecommissioned()) {
        op.progress(100, 'already decommissioned');
        return;
      }
      // A cancelled decommission only stops nodetool: the server goes on leaving. A retry finds it gone already.
      const mode = /^Mode: (\w+)/m.exec(await d.nodetool(['netstats'], op.signal))?.[1];
      if (mode !== 'DECOMMISSIONED') {
        op.progress(10, 'streaming data to the remaining members and leaving the ring');
        await d.nodetool(['decommission'], op.signal, LONG_TOOL_TIMEOUT_MS);
      }
      // Before the stop: whatever happens next, a restarted agent must not bring this node back into the ring.
      await writeFile(d.paths.decommissionedMarker, `${new Date().toISOString()}\n`, { mode: 0o644 });
      op.progress(80, 'left the ring; stopping the server');
      await d.stopServer(op);
      op.progress(100, 'decommissioned');
    },

    async storeAdminCredentials(user, password, op) {
      await d.access.store({ user, password }, 'admin');
      op.progress(100, 'admin credentials stored');
    },

    async secureCluster(members, op) {
      await d.requirePrepared();
      op.progress(10, `waiting to see all ${members} members, then creating the admin role and disabling the default superuser`);
      await secureNode(d.access, await d.endpoint(), await d.access.storedOrNew(), members, op.signal);
      op.progress(100, 'secured');
    },
  };
}
