// The operation state machine, shared by agent and controller: PENDING (recorded,
// not yet started by the agent) -> RUNNING (progress reports) -> one terminal
// state. The first terminal state wins: both sides only ever move an
// unfinished operation (the agent's journal and the controller's guarded
// update), so a late report after a deadline, a cancel or a lost agent changes
// nothing. Wire and store both carry the proto enum's number.
import { OperationState, type OperationResult } from '../../../proto/gen/steward/v1/common.js';
import type { OperationUpdate } from '../../../proto/gen/steward/v1/agent.js';
import { asStewardError, toWireError, type ErrorCode } from '../errors.js';
import { stateMachine } from '../state-machine.js';

export { OperationState };

const { PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED } = OperationState;
const TERMINAL = [SUCCEEDED, FAILED, CANCELLED] as const;

export const operationStates = stateMachine<OperationState>(
  'operation',
  [
    [PENDING, [RUNNING, ...TERMINAL]],
    [RUNNING, [RUNNING, ...TERMINAL]],
    [SUCCEEDED, []],
    [FAILED, []],
    [CANCELLED, []],
  ],
  (s) => OperationState[s],
);

/** The states an operation can still leave: what re-delivery, sweeps and guarded updates look for. */
export const UNFINISHED: readonly OperationState[] = [PENDING, RUNNING];

export const isTerminal = (s: OperationState): boolean => (TERMINAL as readonly OperationState[]).includes(s);

/** A failure ends CANCELLED when a cancel caused it, FAILED otherwise. */
export const failureState = (code: ErrorCode): OperationState => (code === 'CANCELLED' ? CANCELLED : FAILED);

export const stateName = (s: OperationState): string => OperationState[s] ?? 'UNKNOWN';

/** Work measured in bytes, carried as numbers next to the percentage. */
export interface ByteProgress {
  done: number;
  total?: number;
}

type Update = OperationUpdate;
const blank = { result: undefined, error: undefined, bytesDone: 0, bytesTotal: 0 };

/** The transitions, as the updates that report them. */
export const updates = {
  running: (operationId: string, progress: number, message: string, bytes?: ByteProgress): Update => ({
    ...blank,
    operationId,
    state: RUNNING,
    progress: clampPercent(progress),
    message,
    bytesDone: bytes?.done ?? 0,
    bytesTotal: bytes?.total ?? 0,
  }),
  succeeded: (operationId: string, result: OperationResult): Update => ({ ...blank, operationId, state: SUCCEEDED, progress: 100, message: 'done', result }),
  /** CANCELLED or FAILED from the error's code; the message is the error's. */
  failed: (operationId: string, err: unknown, progress: number): Update => {
    const e = asStewardError(err);
    return { ...blank, operationId, state: failureState(e.code), progress, message: e.message, error: toWireError(e) };
  },
};

export const clampPercent = (p: number): number => Math.max(0, Math.min(100, Math.round(p)));
