// Heartbeats without a write each (controller/heartbeats.ts), with a real agent
// (no-op fixture manager) over mutual TLS: an unchanged report is not written
// yet every reader sees the agent alive, a changed one is written at once, and
// a controller restart keeps when the agent last spoke.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, capturedLogs, startTestController, waitFor, type TestController } from '../fixtures/controller.js';
import { CreateInstanceRequest, type CreateInstanceResponse, type Instance } from '../../proto/gen/steward/v1/api.js';
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';

interface Stats {
  time: string;
  heartbeats: number;
  heartbeatWrites: number;
  connected: number;
}

describe('heartbeats: written when they change', () => {
  let t: TestController;
  let id: string;
  const getInstance = () => call<object, Instance>(t.clients.instances, 'get', { id });
  const stored = async () => t.controller.store.selectFrom('agents').selectAll().where('instance_id', '=', id).executeTakeFirstOrThrow();
  const statsSince = (since: number): Stats[] =>
    capturedLogs.map((l) => JSON.parse(l) as Stats & { msg: string }).filter((l) => l.msg === 'gateway statistics' && Date.parse(l.time) > since);

  beforeAll(async () => {
    t = await startTestController({ statsIntervalMs: 500 }, { captureLogs: true });
    const res = await call<object, CreateInstanceResponse>(
      t.clients.instances,
      'create',
      CreateInstanceRequest.fromPartial({ name: 'beats', datastore: 'noop-fixture' }),
    );
    id = res.instance!.id;
    await waitFor('HEALTHY', async () => (await getInstance()).status === DatastoreStatus.HEALTHY);
  });
  afterAll(async () => t?.close());

  it('an unchanged heartbeat costs no write, and the API still sees it arrive', async () => {
    const first = await getInstance();
    const row = await stored();
    const since = Date.now();
    // Several heartbeats later (500 ms apart), the API's last heartbeat has moved on...
    const later = await waitFor(
      'three more heartbeats',
      async () => {
        const i = await getInstance();
        return Date.parse(i.lastHeartbeatAt) >= Date.parse(first.lastHeartbeatAt) + 1_400 && i;
      },
      30_000,
    );
    expect(later.agentLost).toBe(false);
    const agent = await call<object, { lastHeartbeatAt: string; lost: boolean }>(t.clients.agents, 'get', { id });
    expect(Date.parse(agent.lastHeartbeatAt)).toBeGreaterThanOrEqual(Date.parse(later.lastHeartbeatAt));
    // ...while the statistics counted heartbeats and no write for them (the first
    // line after `since` is skipped: its window began before, with the HEALTHY write).
    const stats = await waitFor('statistics lines with heartbeats', async () => {
      const s = statsSince(since).slice(1);
      return s.filter((l) => l.heartbeats > 0).length >= 2 && s;
    });
    expect(stats.reduce((n, s) => n + s.heartbeatWrites, 0)).toBe(0);
    expect(stats.at(-1)!.connected).toBeGreaterThanOrEqual(1);
    expect((await stored()).status).toBe(row.status);
  });

  it('a changed report is written at once', async () => {
    const local = await t.controller.store.selectFrom('local_agents').select('state_dir').where('instance_id', '=', id).executeTakeFirstOrThrow();
    const since = Date.now();
    rmSync(join(local.state_dir, 'prepared')); // the no-op manager now probes BUILDING
    await waitFor('the new status in the store', async () => (await stored()).status === DatastoreStatus.BUILDING, 30_000);
    expect((await getInstance()).status).toBe(DatastoreStatus.BUILDING);
    await waitFor('the write counted', async () => statsSince(since).some((s) => s.heartbeatWrites > 0));
  });

  it('a controller restart writes when each agent last spoke', async () => {
    const before = await getInstance();
    await t.restart();
    expect(Date.parse((await stored()).last_heartbeat_at ?? '')).toBeGreaterThanOrEqual(Date.parse(before.lastHeartbeatAt));
    await waitFor('the agent back', async () => (await getInstance()).agentConnected, 60_000);
  });
});
