// A reconnect storm at a size the suite affords: 300 simulated agents
// (test/fixtures/sim-agents.ts: real enrollment, mutual TLS, Hello,
// heartbeats, answers) lose the controller together when it restarts and come
// back with their own jittered backoff. None is lost, none is refused, no
// operation runs twice, and the controller answers operations afterwards.
import { type ChildProcess, fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestController, tempDir, waitFor, type TestController } from '../fixtures/controller.js';
import type { SimJob } from '../fixtures/sim-agents.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { OperationState, type Operation } from '../../proto/gen/steward/v1/common.js';

const AGENTS = 300;

describe(`reconnect storm: ${AGENTS} agents and a controller restart`, () => {
  let t: TestController;
  let sim: ChildProcess;
  const agents: { id: string; token: string }[] = [];
  let counts = { enrolled: 0, connected: 0, commands: 0, reconnects: 0 };

  beforeAll(async () => {
    t = await startTestController({ provisioner: { kind: 'external', heartbeatIntervalMs: 2_000 } });
    for (let i = 0; i < AGENTS; i++) {
      const res = await call<object, CreateInstanceResponse>(
        t.clients.instances,
        'create',
        CreateInstanceRequest.fromPartial({ name: `storm-${i}`, datastore: 'noop-fixture' }),
      );
      agents.push({ id: res.instance!.id, token: res.enrollmentToken });
    }
    const dir = tempDir('storm-');
    const job: SimJob = {
      gateway: t.controller.agentAddress,
      enroll: t.controller.address,
      caFile: t.controller.caFile,
      heartbeatMs: 2_000,
      datastore: 'noop-fixture',
      agents,
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    sim = fork(join(import.meta.dirname, '..', 'fixtures', 'sim-agents.ts'), [join(dir, 'job.json')], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    sim.on('message', (m: { type: string; counts: typeof counts }) => {
      counts = m.counts;
    });
    await waitFor(`${AGENTS} agents enrolled and connected`, async () => counts.connected === AGENTS, 240_000, 250);
  }, 300_000);

  afterAll(async () => {
    sim?.kill('SIGKILL');
    await t?.close({ keepAgents: true });
  });

  const instances = async () => (await call<object, { instances: Instance[] }>(t.clients.instances, 'list', {})).instances;
  const prepares = async () => {
    const rows = await t.controller.store.selectFrom('operations').select(['instance_id', 'state']).where('kind', '=', 'prepare').execute();
    return rows;
  };

  it('every agent connected has had its prepare answered once', async () => {
    await waitFor('every prepare SUCCEEDED', async () => (await prepares()).every((r) => r.state === OperationState.SUCCEEDED), 120_000, 500);
    expect((await prepares()).length).toBe(AGENTS);
    expect(counts.commands).toBe(AGENTS);
  });

  it('after a controller restart all come back, none lost, nothing run twice, operations answered', async () => {
    const reconnectsBefore = counts.reconnects;
    const t0 = performance.now();
    await t.restart();
    await waitFor('every agent reconnected', async () => counts.reconnects >= reconnectsBefore + AGENTS && counts.connected === AGENTS, 180_000, 100);
    const all = await waitFor('the controller to see every agent', async () => {
      const list = await instances();
      return list.filter((i) => i.agentConnected).length === AGENTS && list;
    });
    console.log(`${AGENTS} agents reconnected ${((performance.now() - t0) / 1000).toFixed(1)} s after the restart began`);
    expect(all.filter((i) => i.agentLost)).toEqual([]);
    // The prepares were answered before: the restart re-sent nothing that had finished.
    expect(counts.commands).toBe(AGENTS);
    expect((await prepares()).length).toBe(AGENTS);
    for (const a of agents.slice(0, 10)) {
      const op = await call<object, Operation>(t.clients.instances, 'ping', { instanceId: a.id, echo: 'after' });
      expect(op.state).toBe(OperationState.SUCCEEDED);
    }
  });
});
