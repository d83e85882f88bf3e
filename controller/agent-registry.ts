// Who is connected right now (in memory: a stream is a live thing) and who is
// lost (from the store: no heartbeat for N intervals). The controller never
// guesses a datastore's status; it only keeps what the agent last reported.
import type { ControllerMessage } from '../proto/gen/steward/v1/agent.js';

export interface AgentStream {
  send(msg: ControllerMessage): void;
  close(reason: string): void;
}

export class AgentRegistry {
  private readonly streams = new Map<string, AgentStream>();
  /** When each agent last spoke (ms): kept here, written to the store only in batches (controller/heartbeats.ts). */
  private readonly lastSeen = new Map<string, number>();

  /** An agent spoke (a heartbeat, a Hello). */
  seen(instanceId: string, at = Date.now()): void {
    this.lastSeen.set(instanceId, at);
  }

  /** Agents seen since `since` (ms), with when. */
  seenSince(since: number): [string, number][] {
    return [...this.lastSeen].filter(([, at]) => at >= since);
  }

  forget(instanceId: string): void {
    this.lastSeen.delete(instanceId);
  }

  /**
   * An agents row with its last heartbeat as this controller knows it: the
   * stored time, or a later one seen since and not yet written. Every reader
   * of last_heartbeat_at goes through here.
   */
  live<T extends { instance_id: string; last_heartbeat_at: string | null }>(row: T): T {
    const at = this.lastSeen.get(row.instance_id);
    if (at === undefined || (row.last_heartbeat_at && Date.parse(row.last_heartbeat_at) >= at)) return row;
    return { ...row, last_heartbeat_at: new Date(at).toISOString() };
  }

  attach(instanceId: string, stream: AgentStream): void {
    const old = this.streams.get(instanceId);
    this.streams.set(instanceId, stream);
    if (old && old !== stream) old.close('replaced by a newer connection from the same agent');
  }

  detach(instanceId: string, stream: AgentStream): void {
    if (this.streams.get(instanceId) === stream) this.streams.delete(instanceId);
  }

  get connectedCount(): number {
    return this.streams.size;
  }

  isConnected(instanceId: string): boolean {
    return this.streams.has(instanceId);
  }

  send(instanceId: string, msg: ControllerMessage): boolean {
    const s = this.streams.get(instanceId);
    if (!s) return false;
    s.send(msg);
    return true;
  }

  disconnect(instanceId: string, reason: string): void {
    const s = this.streams.get(instanceId);
    if (s) {
      this.streams.delete(instanceId);
      s.close(reason);
    }
  }

  closeAll(reason: string): void {
    for (const [id, s] of this.streams) {
      this.streams.delete(id);
      s.close(reason);
    }
  }
}

/** Lost = the last heartbeat is older than `missed` intervals (or none came at all since `since`). */
export function isLost(lastHeartbeatAt: string | null, intervalMs: number, missed: number, now = Date.now()): boolean {
  if (!lastHeartbeatAt) return false;
  return now - Date.parse(lastHeartbeatAt) > intervalMs * missed;
}
