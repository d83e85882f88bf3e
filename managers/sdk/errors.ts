// One error type crosses every layer: a manager throws it, the agent carries its
// code in an OperationError, the controller answers with the matching gRPC
// status. The code is the proto enum `ErrorCode` (whose numbers are gRPC's
// status codes); the message is for people and is never parsed. This file is
// the only place a code is converted: to and from the wire, and from a stored name.
import { ErrorCode as WireCode, type OperationError } from '../../proto/gen/steward/v1/common.js';

/** Every code Steward emits: the names of the proto enum. */
export type ErrorCode = Exclude<keyof typeof WireCode, 'UNSPECIFIED' | 'UNRECOGNIZED'>;

export class StewardError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'StewardError';
  }
}

export const invalidArgument = (field: string, message: string): StewardError => new StewardError('INVALID_ARGUMENT', `${field}: ${message}`, field);
export const notFound = (message: string): StewardError => new StewardError('NOT_FOUND', message);
export const alreadyExists = (message: string): StewardError => new StewardError('ALREADY_EXISTS', message);
export const failedPrecondition = (message: string): StewardError => new StewardError('FAILED_PRECONDITION', message);
export const unavailable = (message: string): StewardError => new StewardError('UNAVAILABLE', message);
export const internal = (message: string): StewardError => new StewardError('INTERNAL', message);

/** Any thrown value as a StewardError, keeping the code when it has one. */
export function asStewardError(err: unknown): StewardError {
  if (err instanceof StewardError) return err;
  if (err instanceof Error) {
    if (err.name === 'AbortError' || err.name === 'TimeoutError') {
      return new StewardError(err.name === 'TimeoutError' ? 'DEADLINE_EXCEEDED' : 'CANCELLED', err.message);
    }
    return new StewardError('INTERNAL', err.message);
  }
  return new StewardError('INTERNAL', String(err));
}

/** True when `err` is a StewardError with this code. */
export const hasCode = (err: unknown, code: ErrorCode): boolean => err instanceof StewardError && err.code === code;

/** The code's number: the proto enum value, which is also the gRPC status code. */
export const codeNumber = (code: ErrorCode): number => WireCode[code];

/** A code from its number (a gRPC status or the enum on the wire); anything unknown is UNKNOWN. */
export function codeOfNumber(n: number): ErrorCode {
  const name = WireCode[n] as keyof typeof WireCode | undefined;
  return name && name !== 'UNSPECIFIED' && name !== 'UNRECOGNIZED' ? name : 'UNKNOWN';
}

/** A code from its stored name; a name that is not a code (a damaged row) is UNKNOWN. */
export function codeOfName(name: string | null | undefined): ErrorCode {
  return name && Object.hasOwn(WireCode, name) && Number.isNaN(Number(name)) && name !== 'UNSPECIFIED' && name !== 'UNRECOGNIZED'
    ? (name as ErrorCode)
    : 'UNKNOWN';
}

/** The wire form of any thrown value. */
export function toWireError(err: unknown): OperationError {
  const e = asStewardError(err);
  return { code: WireCode[e.code], message: e.message };
}

/** The StewardError an OperationError carries. */
export function fromWireError(e: OperationError): StewardError {
  return new StewardError(codeOfNumber(e.code), e.message);
}
