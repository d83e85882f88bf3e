// The orchestration side of clustering: a datastore's strategy describes each
// cluster workflow (create, grow, shrink) as an ordered list of steps; the
// controller runs them, persisting after every step, and resumes after a
// restart at the step it was in. Steps must therefore be idempotent: anything
// they start is keyed (`key`) so a resumed step re-attaches instead of redoing.
import type { ClusterMembership } from '../../proto/gen/steward/v1/agent.js';
import type { CommandPayload } from './operations/payload.js';
import type { OperationResult, RingView } from '../../proto/gen/steward/v1/common.js';

export type { ClusterMembership, RingView };
export type MemberCommand = CommandPayload;

export interface MemberSpec {
  memoryMb: number;
  dataCenter: string;
  rack: string;
}

/** Where a member is in its cluster's life (the MemberState enum on the wire, lower case in the store). */
export type MemberStateName = 'building' | 'joining' | 'active' | 'leaving' | 'removed' | 'error';

export interface MemberRecord {
  instanceId: string;
  name: string;
  dataCenter: string;
  rack: string;
  seed: boolean;
  state: MemberStateName;
  host: string;
  port: number;
}

export interface ClusterStepContext {
  readonly clusterId: string;
  readonly clusterName: string;
  /** Admin credentials shared by every member (kept encrypted by the controller). */
  readonly admin: { user: string; password: string };
  /** Workflow data, persisted after each step (plain JSON). */
  readonly data: Record<string, unknown>;
  members(): MemberRecord[];
  /**
   * Creates an instance that joins as a member (provision + prepare with
   * `membership`) and waits until its prepare finished. Keyed: a resumed step
   * finds the member it already created.
   */
  addMember(
    key: string,
    spec: MemberSpec,
    membership: Omit<ClusterMembership, 'clusterId' | 'clusterName' | 'adminUser' | 'adminPassword'>,
  ): Promise<MemberRecord>;
  /** Runs a command on a member and waits for its result (keyed like addMember). */
  run(key: string, instanceId: string, command: MemberCommand, timeoutMs?: number): Promise<OperationResult>;
  updateMember(instanceId: string, patch: Partial<Pick<MemberRecord, 'seed' | 'state'>>): Promise<void>;
  /** Deletes a member's instance (after it has left the cluster). */
  removeMember(instanceId: string): Promise<void>;
  /** Shown as the cluster's current workflow step. */
  say(message: string): Promise<void>;
}

export interface ClusterStep {
  name: string;
  run(ctx: ClusterStepContext): Promise<void>;
}

export interface ClusterStrategy {
  /** Refuses a request the topology cannot take (INVALID_ARGUMENT / FAILED_PRECONDITION). */
  validateCreate(specs: MemberSpec[]): void;
  validateShrink(members: MemberRecord[], leaving: string[]): void;
  create(specs: MemberSpec[]): ClusterStep[];
  grow(specs: MemberSpec[]): ClusterStep[];
  shrink(instanceIds: string[]): ClusterStep[];
  /** The ring as a live member sees it. */
  ring(ctx: Pick<ClusterStepContext, 'members' | 'run'>): Promise<RingView>;
}

export type { OperationResult };
