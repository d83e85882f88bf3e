// The Cassandra ring strategy's sequencing, against an in-memory stand-in for
// the controller's step context (the real one is exercised end to end in
// test/e2e/cassandra-cluster.test.ts). Checks the order of work, the seed
// choice, and that re-running a step (a resumed workflow) redoes nothing.
import { describe, expect, it } from 'vitest';
import { cassandraStrategy, seedsFirst } from '../../managers/cassandra/orchestration-strategy.js';
import type { ClusterStep, ClusterStepContext, MemberRecord, MemberSpec } from '../../managers/sdk/cluster.js';
import { DONE } from '../../managers/sdk/operations/payload.js';

function fakeContext() {
  const members: MemberRecord[] = [];
  const log: string[] = [];
  const data: Record<string, unknown> = {};
  const done = new Map<string, unknown>();
  let n = 0;
  const ctx: ClusterStepContext = {
    clusterId: 'c1',
    clusterName: 'ring',
    admin: { user: 'a', password: 'p' },
    data,
    members: () => members,
    async addMember(key, spec, membership) {
      const existing = done.get(`add:${key}`) as MemberRecord | undefined;
      if (existing) return existing;
      n++;
      const m: MemberRecord = {
        instanceId: `i${n}`,
        name: `ring-${n}`,
        dataCenter: spec.dataCenter,
        rack: spec.rack,
        seed: false,
        state: 'active',
        host: `127.0.0.${n + 1}`,
        port: 9042,
      };
      members.push(m);
      done.set(`add:${key}`, m);
      log.push(`add ${m.instanceId} ${spec.dataCenter}/${spec.rack} seeds=[${membership.seeds.join(',')}] bootstrap=${membership.autoBootstrap}`);
      return m;
    },
    async run(key, instanceId, command) {
      if (done.has(`run:${key}`)) return DONE;
      done.set(`run:${key}`, true);
      log.push(`${command.$case} ${instanceId}${command.$case === 'setSeeds' ? ` [${command.value.seeds.join(',')}]` : ''}`);
      return DONE;
    },
    async updateMember(id, patch) {
      Object.assign(members.find((m) => m.instanceId === id)!, patch);
    },
    async removeMember(id) {
      members.splice(
        members.findIndex((m) => m.instanceId === id),
        1,
      );
      log.push(`remove ${id}`);
    },
    async say() {},
  };
  const runAll = async (steps: ClusterStep[]) => {
    for (const s of steps) await s.run(ctx);
  };
  return { ctx, members, log, runAll };
}

const spec = (dataCenter: string, rack: string): MemberSpec => ({ memoryMb: 1024, dataCenter, rack });

describe('Cassandra cluster strategy', () => {
  it('starts seeds (one per dc/rack) first, without bootstrap, then secures once and pushes seeds', async () => {
    const f = fakeContext();
    await f.runAll(cassandraStrategy.create([spec('dc1', 'r1'), spec('dc1', 'r1'), spec('dc1', 'r2')]));
    expect(f.log).toEqual([
      'add i1 dc1/r1 seeds=[] bootstrap=false',
      'add i2 dc1/r2 seeds=[127.0.0.2] bootstrap=false',
      'add i3 dc1/r1 seeds=[127.0.0.2,127.0.0.3] bootstrap=false',
      'secureCluster i1',
      'setSeeds i1 [127.0.0.2,127.0.0.3]',
      'setSeeds i2 [127.0.0.2,127.0.0.3]',
      'setSeeds i3 [127.0.0.2,127.0.0.3]',
    ]);
    expect(f.members.filter((m) => m.seed).map((m) => m.instanceId)).toEqual(['i1', 'i2']);
  });

  it('orders seeds first whatever the request order', () => {
    const order = seedsFirst([spec('a', '1'), spec('a', '1'), spec('b', '1'), spec('a', '2')]).map((s) => `${s.dataCenter}/${s.rack}`);
    expect(order).toEqual(['a/1', 'b/1', 'a/2', 'a/1']);
  });

  it('grows one member at a time with bootstrap on, then cleans up only the old members', async () => {
    const f = fakeContext();
    await f.runAll(cassandraStrategy.create([spec('dc1', 'r1'), spec('dc1', 'r1'), spec('dc1', 'r1')]));
    f.log.length = 0;
    await f.runAll(cassandraStrategy.grow([spec('dc1', 'r1')]));
    expect(f.log).toEqual([
      'add i4 dc1/r1 seeds=[127.0.0.2] bootstrap=true',
      'setSeeds i1 [127.0.0.2]',
      'setSeeds i2 [127.0.0.2]',
      'setSeeds i3 [127.0.0.2]',
      'setSeeds i4 [127.0.0.2]',
      'nodeCleanup i1',
      'nodeCleanup i2',
      'nodeCleanup i3',
    ]);
  });

  it('a resumed workflow re-runs its steps without redoing the work', async () => {
    const f = fakeContext();
    const steps = cassandraStrategy.create([spec('dc1', 'r1'), spec('dc1', 'r1')]);
    await f.runAll(steps);
    const before = [...f.log];
    await f.runAll(steps); // as after a controller restart in the middle
    expect(f.log).toEqual(before);
    expect(f.members).toHaveLength(2);
  });

  it('shrinks by decommission, one at a time, and re-seeds a rack that lost its seed', async () => {
    const f = fakeContext();
    await f.runAll(cassandraStrategy.create([spec('dc1', 'r1'), spec('dc1', 'r1'), spec('dc1', 'r1')]));
    f.log.length = 0;
    await f.runAll(cassandraStrategy.shrink(['i1']));
    expect(f.log).toEqual(['decommission i1', 'remove i1', 'setSeeds i2 [127.0.0.3]', 'setSeeds i3 [127.0.0.3]']);
    expect(f.members.find((m) => m.instanceId === 'i2')?.seed).toBe(true);
  });

  it('refuses to shrink to nothing', () => {
    const members = [{ instanceId: 'i1' }] as MemberRecord[];
    expect(() => cassandraStrategy.validateShrink(members, ['i1'])).toThrow(/at least one member/);
  });
});
