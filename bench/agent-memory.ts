// Resident memory of an idle agent process (after its datastore is prepared and
// it has been heartbeating for a while), for the no-op and the MySQL manager.
//   npx tsx bench/agent-memory.ts [idleSeconds]
import { readFileSync } from 'node:fs';
import { call, startTestController, waitFor } from '../test/fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../proto/gen/steward/v1/api.js';
import { DatastoreStatus } from '../proto/gen/steward/v1/common.js';

const IDLE_S = Number(process.argv[2] ?? 15);
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const t = await startTestController({ provisioner: { heartbeatIntervalMs: 1_000 } });
try {
  for (const datastore of ['noop-fixture', 'mysql']) {
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: datastore, datastore, memoryMb: 256 }),
    );
    const id = res.instance!.id;
    await waitFor('HEALTHY', async () => (await call<object, Instance>(t.clients.instances, 'get', { id })).status === DatastoreStatus.HEALTHY, 120_000);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const pid = (await t.controller.provisioner.agentPid(id))!;
    console.log(`idle agent RSS (${datastore} manager, ${IDLE_S} s idle, heartbeat 1 s): ${rssMb(pid).toFixed(1)} MiB`);
  }
} finally {
  await t.close();
}
