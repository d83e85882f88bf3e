// The `task` + `task_message` columns that instances and clusters share: a
// task moves only along its machine, through a guarded update (the row must be
// in a state the machine lets move to the new one), and a failure keeps its
// reason for the user. The time of every move is the row's `updated_at`.
import { failedPrecondition } from '../../managers/sdk/errors.js';
import type { StateMachine } from '../../managers/sdk/state-machine.js';
import { nowIso } from '../clock.js';
import type { Store } from '../store/open.js';

export type TaskTable = 'instances' | 'clusters' | 'replica_sets';

export interface TaskColumn<T extends string> {
  readonly machine: StateMachine<T>;
  /** Moves the task if the row's current task may move to `to`; false when it may not (nothing changed). */
  move(db: Store, id: string, to: T, message?: string): Promise<boolean>;
  /** As `move`, but a refused move is FAILED_PRECONDITION naming the task the row is in. */
  begin(db: Store, id: string, to: T): Promise<void>;
  /** A stored task name read back; anything that is not a state of the machine is a damaged row. */
  parse(stored: string): T;
}

export function taskColumn<T extends string>(table: TaskTable, what: string, machine: StateMachine<T>): TaskColumn<T> {
  const move = async (db: Store, id: string, to: T, message = ''): Promise<boolean> => {
    const res = await db
      .updateTable(table)
      .set({ task: to, task_message: message, updated_at: nowIso() })
      .where('id', '=', id)
      .where('task', 'in', machine.sourcesOf(to))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  };
  return {
    machine,
    move,
    async begin(db, id, to) {
      if (await move(db, id, to)) return;
      const row = await db.selectFrom(table).select(['task', 'task_message']).where('id', '=', id).executeTakeFirst();
      throw failedPrecondition(`${what} ${id} is ${row?.task ?? 'gone'}${row?.task_message ? `: ${row.task_message}` : ''}`);
    },
    parse(stored) {
      if (!machine.states.includes(stored as T)) throw failedPrecondition(`${what} task "${stored}" is not one this controller knows`);
      return stored as T;
    },
  };
}
