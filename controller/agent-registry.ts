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

  attach(instanceId: string, stream: AgentStream): void {
    const old = this.streams.get(instanceId);
    this.streams.set(instanceId, stream);
    if (old && old !== stream) old.close('replaced by a newer connection from the same agent');
  }

  detach(instanceId: string, stream: AgentStream): void {
    if (this.streams.get(instanceId) === stream) this.streams.delete(instanceId);
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
