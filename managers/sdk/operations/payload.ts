// The shapes of a command's payload and of an operation's result, as the
// generated code gives them (ts-proto `oneof=unions-value`): one `$case` naming
// the operation and its typed `value`. Nothing here knows a datastore.
import type { Command } from '../../../proto/gen/steward/v1/agent.js';
import type { OperationResult } from '../../../proto/gen/steward/v1/common.js';

/** One command's typed payload: `{ $case: 'createUsers', value: CreateUsersRequest }`. */
export type CommandPayload = NonNullable<Command['payload']>;
export type PayloadCase = CommandPayload['$case'];
export type PayloadOf<C extends PayloadCase> = Extract<CommandPayload, { $case: C }>['value'];

export type ResultValue = NonNullable<OperationResult['result']>;
export type ResultCase = ResultValue['$case'];
export type ResultOf<C extends ResultCase> = Extract<ResultValue, { $case: C }>['value'];

/** "createUsers" -> "create_users", checked by the compiler: an operation's kind is its payload's name. */
export type SnakeCase<S extends string> = S extends `${infer H}${infer T}` ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${SnakeCase<T>}` : S;

/** The name operations are stored, listed and reported under ("create_users"). */
export type OperationKind = SnakeCase<PayloadCase>;

/** A payload, written the short way: `payload('createUsers', { users })`. */
export const payload = <C extends PayloadCase>($case: C, value: PayloadOf<C>): CommandPayload => ({ $case, value }) as CommandPayload;

/** A result, written the short way. */
export const answer = <C extends ResultCase>($case: C, value: ResultOf<C>): OperationResult => ({ result: { $case, value } as ResultValue });

/** An operation that answers nothing but its success. */
export const DONE: OperationResult = { result: undefined };

/** The value of a result of the expected case; undefined for any other (or none). */
export function resultOf<C extends ResultCase>(r: OperationResult | undefined, $case: C): ResultOf<C> | undefined {
  const v = r?.result;
  return (v?.$case === $case ? v.value : undefined) as ResultOf<C> | undefined;
}
