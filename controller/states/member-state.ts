// A cluster member's state: its place in the cluster's life, set by the
// cluster workflows (building -> joining -> active -> leaving -> removed, or
// error). Stored as the lower-case name the workflows have always written,
// sent as the MemberState enum.
import { MemberState } from '../../proto/gen/steward/v1/clusters.js';
import { stateMachine } from '../../managers/sdk/state-machine.js';
import type { MemberStateName } from '../../managers/sdk/cluster.js';

export type { MemberStateName };

export const memberStates = stateMachine<MemberStateName>('member state', {
  building: ['joining', 'active', 'error'],
  joining: ['active', 'error'],
  active: ['leaving', 'error'],
  leaving: ['removed', 'error'],
  removed: [],
  // A member a step failed on may be tried again (a resumed workflow) or taken out.
  error: ['active', 'leaving'],
});

export const memberStateProto = (stored: string): MemberState => MemberState[stored.toUpperCase() as keyof typeof MemberState] ?? MemberState.UNSPECIFIED;
