// One error type crosses every layer: a manager throws it, the agent carries its
// code in an OperationError, the controller maps it onto the gRPC status.
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'INTERNAL';

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

export const invalidArgument = (field: string, message: string): StewardError =>
  new StewardError('INVALID_ARGUMENT', `${field}: ${message}`, field);
export const notFound = (message: string): StewardError => new StewardError('NOT_FOUND', message);
export const alreadyExists = (message: string): StewardError => new StewardError('ALREADY_EXISTS', message);
export const failedPrecondition = (message: string): StewardError =>
  new StewardError('FAILED_PRECONDITION', message);
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
