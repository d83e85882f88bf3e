// Maps Steward errors onto gRPC statuses and wraps async handlers for grpc-js.
import { status, type ServerUnaryCall, type sendUnaryData, type ServiceError, Metadata } from '@grpc/grpc-js';
import { asStewardError, codeNumber, type ErrorCode } from '../managers/sdk/errors.js';
import type { Logger } from '../managers/sdk/logger.js';

/** The gRPC status of a code: the same number (the enum mirrors gRPC's codes). */
export const grpcCode = (code: ErrorCode): status => codeNumber(code) as status;

export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = asStewardError(err);
  return { code: grpcCode(e.code), details: e.message, message: e.message, metadata: new Metadata() };
}

/** Adapts `async (request, call) => response` to grpc-js's callback style. */
export function unary<Req, Res>(log: Logger, name: string, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err) => {
        const se = toServiceError(err);
        if (se.code === status.INTERNAL || se.code === status.UNKNOWN) log.error({ rpc: name, err: se.details }, 'rpc failed');
        else log.debug({ rpc: name, code: status[se.code ?? 2], err: se.details }, 'rpc refused');
        callback(se);
      },
    );
  };
}
