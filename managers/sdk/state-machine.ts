// A state machine as data: its states and, for each, the states it may move
// to. Every state module (operation, instance task, backup, cluster, member,
// workflow) is one of these plus the named transitions callers use, so that a
// move nobody wrote down is refused instead of stored.
import { internal } from './errors.js';

export interface StateMachine<S extends string | number> {
  readonly name: string;
  readonly states: readonly S[];
  canMove(from: S, to: S): boolean;
  /** Returns `to`; an illegal move is a bug in the caller (INTERNAL naming both states), never stored. */
  move(from: S, to: S): S;
  /** The states that may move to `to`: what a guarded update (`where state in ...`) accepts. */
  sourcesOf(to: S): S[];
}

/**
 * `next` lists every state with the states it may move to; a state that may
 * stay where it is (progress reports) lists itself. States with string names
 * may be given as an object, numeric enums as [state, targets] pairs.
 */
export function stateMachine<S extends string | number>(
  name: string,
  next: ReadonlyArray<readonly [S, readonly S[]]> | Readonly<Record<S & string, readonly S[]>>,
  label: (s: S) => string = String,
): StateMachine<S> {
  const pairs = (Array.isArray(next) ? next : Object.entries(next)) as Array<readonly [S, readonly S[]]>;
  const table = new Map<S, ReadonlySet<S>>(pairs.map(([from, to]) => [from, new Set(to)]));
  const canMove = (from: S, to: S) => table.get(from)?.has(to) ?? false;
  return {
    name,
    states: [...table.keys()],
    canMove,
    move(from, to) {
      if (!canMove(from, to)) throw internal(`${name}: ${label(from)} cannot move to ${label(to)}`);
      return to;
    },
    sourcesOf: (to) => [...table.entries()].filter(([, targets]) => targets.has(to)).map(([from]) => from),
  };
}
