// When a replica set needs the controller without being asked
// (docs/replication.md, "automatic failover"):
//   - its primary's server is down by its agent's own report (CRASHED): failover now;
//   - its primary answers nothing (frozen, wedged) for `unresponsiveMs` while its agent is alive;
//   - its primary's agent is lost: failover once both the lost-agent window and the
//     write lease (plus a margin) have passed since its last heartbeat, so that the
//     old primary has refused writes by itself before another one takes them;
//   - a former primary is back: it rejoins as a replica;
//   - the current primary fenced itself (it lost the controller for its lease) and is back: unfenced.
// Run on every heartbeat of a member (acts within a second of the agent's report)
// and by a sweep every second (notices silence). Decisions read the store only,
// so two controllers deciding at once are kept apart by the set's task.
import { DatastoreStatus } from '../../proto/gen/steward/v1/common.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { AgentsTable, InstancesTable, ReplicaSetsTable } from '../store/schema.js';
import { isSettled } from './states.js';
import { memberReport, type MemberReport } from './report.js';
import type { ReplicationService } from './service.js';

/** A failed failover or rejoin is tried again no sooner than this. */
const RETRY_MS = 10_000;
/** Tasks during which an instance's silence is the controller's own doing. */
const EXPECTED_OUTAGE = new Set(['BUILDING', 'REBOOTING', 'RESIZING', 'DELETING']);

export class FailoverDetector {
  private readonly startedAt = Date.now();
  /** Since when each primary has been seen alive but not serving. */
  private readonly unhealthySince = new Map<string, number>();
  private readonly lastAttempt = new Map<string, number>();
  private readonly checking = new Set<string>();

  constructor(private readonly svc: ReplicationService) {}

  /** A heartbeat of `instanceId` arrived: its set is looked at now. */
  async onHeartbeat(instanceId: string): Promise<void> {
    const row = await this.svc.d.store.selectFrom('instances').select('replica_set_id').where('id', '=', instanceId).executeTakeFirst();
    if (!row?.replica_set_id) return;
    const set = await this.svc.set(row.replica_set_id).catch(() => undefined);
    if (set) await this.check(set);
  }

  async sweep(now = Date.now()): Promise<void> {
    for (const set of await this.svc.liveSets()) await this.check(set, now);
  }

  /** The controller grants `instanceId` its write lease while it is the primary of a set that is not failing it over. */
  async grantsLease(instanceId: string): Promise<boolean> {
    const set = await this.svc.d.store
      .selectFrom('replica_sets')
      .select(['task'])
      .where('primary_id', '=', instanceId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return !!set && set.task !== 'FAILING_OVER';
  }

  private async check(set: ReplicaSetsTable, now = Date.now()): Promise<void> {
    if (this.checking.has(set.id)) return;
    this.checking.add(set.id);
    try {
      if (!isSettled(set.task)) return;
      const { store, missedHeartbeats } = this.svc.d;
      const members = await this.svc.members(set.id);
      const primary = members.find((m) => m.id === set.primary_id);
      if (!primary || members.length < 2) return;
      const agents = await store
        .selectFrom('agents')
        .selectAll()
        .where(
          'instance_id',
          'in',
          members.map((m) => m.id),
        )
        .execute();
      const agentOf = (id: string) => {
        const stored = agents.find((a) => a.instance_id === id);
        return stored && this.svc.d.agents.live(stored);
      };
      const report = memberReport(primary.id, agentOf(primary.id), missedHeartbeats, now);
      const reason = this.primaryFailure(primary, agentOf(primary.id), report, now);
      if (reason) return await this.failover(set, reason, now);
      await this.rejoinReturned(set, members, agentOf, now);
      if (report.replication?.fenced && report.status === DatastoreStatus.HEALTHY) await this.unfence(set, now);
    } catch (err) {
      this.svc.d.log.error({ replicaSetId: set.id, err: (err as Error).message }, 'replica set check failed');
    } finally {
      this.checking.delete(set.id);
    }
  }

  /** Why the primary has failed, or undefined while it is fine (or its silence is expected). */
  private primaryFailure(primary: InstancesTable, agent: AgentsTable | undefined, r: MemberReport, now: number): string | undefined {
    if (EXPECTED_OUTAGE.has(primary.task) || !agent) {
      this.unhealthySince.delete(primary.id);
      return undefined;
    }
    if (!r.alive || !r.lastHeartbeatAt) {
      // Heartbeats sent while this controller was down went nowhere: its clock starts when it starts.
      const since = Math.max(Date.parse(r.lastHeartbeatAt ?? '') || 0, this.startedAt);
      const lostAfter = agent.heartbeat_interval_ms * this.svc.d.missedHeartbeats;
      const wait = Math.max(lostAfter, r.writeLeaseMs + agent.heartbeat_interval_ms + this.svc.d.settings.leaseMarginMs);
      const silent = now - since;
      return silent >= wait ? `the primary's agent is lost (no heartbeat for ${Math.round(silent / 1000)} s)` : undefined;
    }
    if (r.status === DatastoreStatus.CRASHED) return "the primary's server crashed";
    if (r.status === DatastoreStatus.HEALTHY) {
      this.unhealthySince.delete(primary.id);
      return undefined;
    }
    const since = this.unhealthySince.get(primary.id) ?? now;
    this.unhealthySince.set(primary.id, since);
    const silent = now - since;
    if (silent < this.svc.d.settings.unresponsiveMs) return undefined;
    return `the primary's server has not served for ${Math.round(silent / 1000)} s (${DatastoreStatus[r.status] ?? r.status})`;
  }

  private due(key: string, now: number): boolean {
    if (now - (this.lastAttempt.get(key) ?? 0) < RETRY_MS) return false;
    this.lastAttempt.set(key, now);
    return true;
  }

  private async failover(set: ReplicaSetsTable, reason: string, now: number): Promise<void> {
    if (set.failover !== 'auto') {
      if (!set.status_message.startsWith('primary failed')) await this.svc.setStatus(set.id, `primary failed (${reason}); automatic failover is off`);
      return;
    }
    if (set.task === 'FAILING_OVER_ERROR' && !this.due(`failover:${set.id}`, now)) return;
    this.lastAttempt.set(`failover:${set.id}`, now);
    this.svc.d.log.warn({ replicaSetId: set.id, primaryId: set.primary_id, reason }, 'failing over');
    await this.svc.startWorkflow(set, 'failover', { oldPrimaryId: set.primary_id, force: false, reason });
  }

  /** Former primaries whose agent reports again rejoin, one workflow at a time. */
  private async rejoinReturned(set: ReplicaSetsTable, members: InstancesTable[], agentOf: (id: string) => AgentsTable | undefined, now: number): Promise<void> {
    const pending = JSON.parse(set.rejoin_pending) as string[];
    for (const id of pending) {
      const member = members.find((m) => m.id === id);
      if (!member || member.task === 'DELETING') continue;
      const r = memberReport(id, agentOf(id), this.svc.d.missedHeartbeats, now);
      if (!r.alive || !this.svc.d.agents.isConnected(id) || !this.due(`rejoin:${id}`, now)) continue;
      await this.svc.startWorkflow(set, 'rejoin', { instanceId: id });
      return;
    }
  }

  /** The primary fenced itself while the controller was away; it is the primary still, so it takes writes again. */
  private async unfence(set: ReplicaSetsTable, now: number): Promise<void> {
    if (!this.svc.d.agents.isConnected(set.primary_id) || !this.due(`unfence:${set.id}`, now)) return;
    this.svc.d.log.info({ replicaSetId: set.id, primaryId: set.primary_id }, 'primary fenced itself while the controller was away: unfencing');
    await this.svc.d.operations.call(set.primary_id, payload('unfenceWrites', { term: Number(set.term) }));
  }
}
