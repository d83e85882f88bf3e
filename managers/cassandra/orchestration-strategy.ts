// How the controller sequences a Cassandra ring (the seed page's clustering
// strategy, controller side). Seeds: the first member of each (data center,
// rack). Create: members one at a time, seeds first, auto_bootstrap off, then
// the cluster is secured once and the final seed list pushed to everyone.
// Grow: new members join one at a time with bootstrap on, seeds are recomputed
// and pushed, then cleanup runs on the old members. Shrink: members leave one at
// a time by decommission; if a seed left, seeds are recomputed and pushed.
import type { ClusterStep, ClusterStepContext, ClusterStrategy, MemberRecord, MemberSpec } from '../sdk/cluster.js';
import { failedPrecondition, invalidArgument } from '../sdk/errors.js';
import { payload, resultOf } from '../sdk/operations/payload.js';

const MAX_MEMBERS = 64;
const CLEANUP_TIMEOUT_MS = 60 * 60_000;
const DECOMMISSION_TIMEOUT_MS = 2 * 60 * 60_000;

const placement = (m: { dataCenter: string; rack: string }) => `${m.dataCenter}/${m.rack}`;
const live = (ctx: Pick<ClusterStepContext, 'members'>) => ctx.members().filter((m) => m.state !== 'removed' && m.state !== 'leaving');
const seedHosts = (members: MemberRecord[]) => members.filter((m) => m.seed).map((m) => m.host);

/** Seeds first: the first spec of each placement, then the rest, each group in request order. */
export function seedsFirst(specs: MemberSpec[]): MemberSpec[] {
  const seen = new Set<string>();
  const seeds: MemberSpec[] = [];
  const rest: MemberSpec[] = [];
  for (const s of specs) (seen.has(placement(s)) ? rest : seeds).push(s), seen.add(placement(s));
  return [...seeds, ...rest];
}

function joinStep(key: string, label: string, spec: MemberSpec, autoBootstrap: boolean): ClusterStep {
  return {
    name: label,
    async run(ctx) {
      const members = live(ctx);
      const seed = !members.some((m) => m.seed && placement(m) === placement(spec));
      const m = await ctx.addMember(key, spec, {
        seeds: seedHosts(members), // empty for the very first member: it seeds itself
        autoBootstrap,
        dataCenter: spec.dataCenter,
        rack: spec.rack,
        secureCluster: false,
      });
      if (seed && !m.seed) await ctx.updateMember(m.instanceId, { seed: true });
    },
  };
}

/** Every (dc, rack) keeps a seed among the members still in the ring. */
function recomputeSeeds(): ClusterStep {
  return {
    name: 'recompute seeds',
    async run(ctx) {
      const members = live(ctx);
      const covered = new Set(members.filter((m) => m.seed).map(placement));
      for (const m of members) {
        if (!covered.has(placement(m))) {
          await ctx.updateMember(m.instanceId, { seed: true });
          covered.add(placement(m));
        }
      }
    },
  };
}

function pushSeeds(tag: string): ClusterStep {
  return {
    name: 'push seeds to every member',
    async run(ctx) {
      const members = live(ctx);
      const seeds = seedHosts(members);
      for (const m of members) await ctx.run(`seeds-${tag}-${m.instanceId}`, m.instanceId, payload('setSeeds', { seeds }));
    },
  };
}

export const cassandraStrategy: ClusterStrategy = {
  validateCreate(specs) {
    if (specs.length > MAX_MEMBERS) throw invalidArgument('members', `a cluster has at most ${MAX_MEMBERS} members`);
  },

  validateShrink(members, leaving) {
    if (members.length - leaving.length < 1) throw failedPrecondition('a Cassandra cluster keeps at least one member; delete the cluster instead');
  },

  create(specs) {
    const ordered = seedsFirst(specs);
    return [
      ...ordered.map((spec, i) => joinStep(`create-${i}`, `create member ${i + 1} of ${ordered.length} (${placement(spec)})`, spec, false)),
      {
        name: 'secure the cluster (admin role, default superuser off)',
        async run(ctx) {
          const first = live(ctx).find((m) => m.seed) ?? live(ctx)[0];
          await ctx.run('secure', first.instanceId, payload('secureCluster', { members: live(ctx).length }), 10 * 60_000);
        },
      },
      pushSeeds('create'),
    ];
  },

  grow(specs) {
    return [
      {
        name: 'remember the current members',
        async run(ctx) {
          ctx.data.before ??= live(ctx).map((m) => m.instanceId);
        },
      },
      ...specs.map((spec, i) => joinStep(`grow-${i}`, `join new member ${i + 1} of ${specs.length} (${placement(spec)})`, spec, true)),
      recomputeSeeds(),
      pushSeeds('grow'),
      {
        name: 'clean up the old members',
        async run(ctx) {
          for (const id of (ctx.data.before as string[]) ?? []) {
            await ctx.run(`cleanup-${id}`, id, payload('nodeCleanup', {}), CLEANUP_TIMEOUT_MS);
          }
        },
      },
    ];
  },

  shrink(instanceIds) {
    return [
      ...instanceIds.map(
        (id, i): ClusterStep => ({
          name: `decommission member ${i + 1} of ${instanceIds.length}`,
          async run(ctx) {
            if (!ctx.members().some((m) => m.instanceId === id)) return; // left already (resumed step)
            await ctx.updateMember(id, { state: 'leaving', seed: false });
            await ctx.run(`decommission-${id}`, id, payload('decommission', {}), DECOMMISSION_TIMEOUT_MS);
            await ctx.removeMember(id);
          },
        }),
      ),
      recomputeSeeds(),
      pushSeeds('shrink'),
    ];
  },

  async ring(ctx) {
    const member = ctx.members().find((m) => m.state === 'active');
    if (!member) throw failedPrecondition('no active member to ask for the ring');
    const result = await ctx.run('ring', member.instanceId, payload('ringView', {}), 60_000);
    return resultOf(result, 'ring') ?? { members: [] };
  },
};
