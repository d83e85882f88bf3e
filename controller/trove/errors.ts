// Trove's fault body (trove/common/wsgi.py Fault): one key, the fault's name,
// holding the HTTP code and a message, e.g.
//   {"itemNotFound": {"code": 404, "message": "instance 42 not found"}}
// python-troveclient reads exactly this shape (apiclient/exceptions.py
// from_response) and picks its exception class by the status code; anything
// else makes it crash. Steward's error codes map onto the statuses Trove
// answers for the same situations (its wsgi exception_map).
import { asStewardError, StewardError, type ErrorCode } from '../../managers/sdk/errors.js';

export interface TroveFault {
  status: number;
  name: string;
}

/** The fault name of each status, as Trove's Fault._get_error_name spells it. */
export const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflict',
  413: 'overLimit',
  414: 'requestURITooLong',
  415: 'badMediaType',
  422: 'unprocessableEntity',
  500: 'instanceFault',
  501: 'notImplemented',
  503: 'serviceUnavailable',
  504: 'gatewayTimeout',
};

/** Trove's answer to each Steward error code. */
const STATUS_OF_CODE: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400, // BadRequest, BadValue
  OUT_OF_RANGE: 400,
  ALREADY_EXISTS: 400, // DatabaseAlreadyExists, UserAlreadyExists are BadRequest in Trove
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 413, // OverLimit, QuotaExceeded
  FAILED_PRECONDITION: 422, // UnprocessableEntity: "instance is not in a state that allows this"
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  CANCELLED: 500,
  UNKNOWN: 500,
  INTERNAL: 500,
  DATA_LOSS: 500,
};

export function faultOfStatus(status: number): TroveFault {
  return { status, name: FAULT_NAMES[status] ?? (status >= 500 ? 'instanceFault' : 'badRequest') };
}

export function faultOfCode(code: ErrorCode): TroveFault {
  return faultOfStatus(STATUS_OF_CODE[code]);
}

/** The body Trove answers with. */
export function faultBody(f: TroveFault, message: string): Record<string, { code: number; message: string }> {
  return { [f.name]: { code: f.status, message } };
}

/** An error of this facade's own (a Trove endpoint Steward does not have yet). */
export const notImplemented = (what: string): StewardError => new StewardError('UNIMPLEMENTED', `${what} is not implemented by Steward`);

/** A request this facade refuses before any service sees it. */
export const badRequest = (message: string): StewardError => new StewardError('INVALID_ARGUMENT', message);

export { asStewardError };
