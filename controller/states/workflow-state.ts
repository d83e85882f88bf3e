// A persisted cluster workflow: RUNNING until its last step, then SUCCEEDED or
// FAILED (with the error). A controller that stops leaves it RUNNING, and the
// next one resumes it at the step it was in.
import { stateMachine } from '../../managers/sdk/state-machine.js';

export type WorkflowState = 'RUNNING' | 'SUCCEEDED' | 'FAILED';

export const workflowStates = stateMachine<WorkflowState>('workflow', {
  RUNNING: ['RUNNING', 'SUCCEEDED', 'FAILED'],
  SUCCEEDED: [],
  FAILED: [],
});

export const isWorkflowRunning = (s: string): boolean => s === 'RUNNING';
