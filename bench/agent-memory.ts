// Resident memory of an idle agent process (after its datastore is prepared and
// it has been heartbeating for a while), for the no-op and the MySQL manager.
//   npx tsx bench/agent-memory.ts [idleSeconds]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, startTestController, waitFor } from '../test/fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../proto/gen/steward/v1/api.js';
import { DatastoreStatus } from '../proto/gen/steward/v1/common.js';

const IDLE_S = Number(process.argv[2] ?? 15);
/** Anonymous (heap, stacks) and file-backed (the node binary, shared libraries) parts of RSS. */
const breakdown = (pid: number) => {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? 0) / 1024;
  return `anonymous ${kb('RssAnon').toFixed(1)} MiB, file-backed ${kb('RssFile').toFixed(1)} MiB`;
};
/** The agent's own account of its heap (its /metrics on localhost). */
async function heap(id: string): Promise<string> {
  const port = readFileSync(join(t.controller.provisioner.stateDirOf(id), 'run', 'agent-health.port'), 'utf8').trim();
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const part = (p: string) => Number(new RegExp(`part="${p}"} (\\d+)`).exec(text)?.[1] ?? 0) / 1024 / 1024;
  return `V8 heap ${part('heap_used').toFixed(1)} used of ${part('heap_total').toFixed(1)} MiB, external ${part('external').toFixed(1)} MiB`;
}
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

// STEWARD_AGENT_COMMAND: how to start the agent under test (e.g. a packaged one: "/usr/bin/steward-agent").
const agentCommand = process.env.STEWARD_AGENT_COMMAND?.split(' ').filter(Boolean);
const t = await startTestController({ provisioner: { heartbeatIntervalMs: 1_000, agentCommand } });
try {
  // The no-op fixture is TypeScript only: a packaged agent cannot load it.
  for (const datastore of agentCommand ? ['mysql'] : ['noop-fixture', 'mysql']) {
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: datastore, datastore, memoryMb: 256 }),
    );
    const id = res.instance!.id;
    await waitFor('HEALTHY', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).status === DatastoreStatus.HEALTHY, 120_000);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const pid = (await t.controller.provisioner.agentPid(id))!;
    console.log(`idle agent RSS (${datastore} manager, ${IDLE_S} s idle, heartbeat 1 s): ${rssMb(pid).toFixed(1)} MiB (${breakdown(pid)}; ${await heap(id)})`);
  }
} finally {
  await t.close();
}
