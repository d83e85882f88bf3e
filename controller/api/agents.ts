import type { AgentInfo, AgentsServer } from '../../proto/gen/steward/v1/api.js';
import { notFound } from '../../managers/sdk/errors.js';
import { isLost } from '../agent-registry.js';
import type { AgentsTable } from '../store/schema.js';
import { unary } from '../grpc-status.js';
import type { ApiContext } from './context.js';

export function agentsApi(c: ApiContext): AgentsServer {
  const info = (stored: AgentsTable): AgentInfo => {
    const a = c.agents.live(stored);
    return {
      instanceId: a.instance_id,
      connected: c.agents.isConnected(a.instance_id),
      lost: isLost(a.last_heartbeat_at, a.heartbeat_interval_ms, c.missedHeartbeats),
      lastHeartbeatAt: a.last_heartbeat_at ?? '',
      status: a.status,
      facts: JSON.parse(a.facts) as Record<string, string>,
      agentVersion: a.agent_version,
      datastore: a.datastore,
      datastoreVersion: a.datastore_version,
      capabilities: JSON.parse(a.capabilities) as string[],
    };
  };
  return {
    list: unary(c.log, 'Agents.List', async (_req, call) => {
      const ids = (await c.instances.list(await c.scopeOf(call.metadata))).map((i) => i.id);
      if (ids.length === 0) return { agents: [] };
      const rows = await c.store.selectFrom('agents').selectAll().where('instance_id', 'in', ids).execute();
      return { agents: rows.map(info) };
    }),
    get: unary(c.log, 'Agents.Get', async (req, call) => {
      const inst = await c.instances.get(await c.scopeOf(call.metadata), req.id);
      const row = await c.store.selectFrom('agents').selectAll().where('instance_id', '=', inst.id).executeTakeFirst();
      if (!row) throw notFound(`the agent of instance ${inst.id} has not connected yet`);
      return info(row);
    }),
    revokeCertificates: unary(c.log, 'Agents.RevokeCertificates', async (req, call) => {
      const inst = await c.instances.get(await c.scopeOf(call.metadata), req.id);
      await c.security.revokeInstance(inst.id);
      c.agents.disconnect(inst.id, 'certificate revoked');
      const row = await c.store.selectFrom('agents').selectAll().where('instance_id', '=', inst.id).executeTakeFirst();
      if (!row) throw notFound(`the agent of instance ${inst.id} has not connected yet`);
      return info(row);
    }),
  };
}
