// Error codes are the proto enum: every code survives the trip to the wire and
// back, its number is gRPC's, and anything unknown becomes UNKNOWN instead of
// being trusted.
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ErrorCode as WireCode } from '../../proto/gen/steward/v1/common.js';
import {
  asStewardError,
  codeNumber,
  codeOfName,
  codeOfNumber,
  fromWireError,
  hasCode,
  StewardError,
  toWireError,
  type ErrorCode,
} from '../../managers/sdk/errors.js';
import { grpcCode, toServiceError } from '../../controller/grpc-status.js';

const ALL: ErrorCode[] = (Object.keys(WireCode) as Array<keyof typeof WireCode>).filter(
  (k): k is ErrorCode => Number.isNaN(Number(k)) && k !== 'UNSPECIFIED' && k !== 'UNRECOGNIZED',
);

describe('error codes', () => {
  it('cover every gRPC status but OK, ABORTED included', () => {
    expect(ALL).toHaveLength(16);
    expect(ALL).toContain('ABORTED');
    for (const code of ALL) expect(codeNumber(code)).toBe(status[code]);
  });

  it('round-trip through the wire, the store and gRPC', () => {
    for (const code of ALL) {
      const back = fromWireError(toWireError(new StewardError(code, `because ${code}`)));
      expect([back.code, back.message]).toEqual([code, `because ${code}`]);
      expect(codeOfName(code)).toBe(code);
      expect(codeOfNumber(codeNumber(code))).toBe(code);
      expect(grpcCode(code)).toBe(status[code]);
      expect(toServiceError(new StewardError(code, 'x')).code).toBe(status[code]);
    }
  });

  it('read anything else as UNKNOWN', () => {
    expect(codeOfNumber(0)).toBe('UNKNOWN');
    expect(codeOfNumber(99)).toBe('UNKNOWN');
    expect(codeOfNumber(-1)).toBe('UNKNOWN');
    expect(codeOfName('TOTALLY_FINE')).toBe('UNKNOWN');
    expect(codeOfName('UNSPECIFIED')).toBe('UNKNOWN');
    expect(codeOfName('constructor')).toBe('UNKNOWN');
    expect(codeOfName(null)).toBe('UNKNOWN');
    expect(fromWireError({ code: 77 as WireCode, message: 'from the future' }).code).toBe('UNKNOWN');
  });

  it('map aborts and timeouts by the error name, and keep a StewardError as it is', () => {
    expect(asStewardError(new DOMException('late', 'TimeoutError')).code).toBe('DEADLINE_EXCEEDED');
    expect(asStewardError(Object.assign(new Error('stop'), { name: 'AbortError' })).code).toBe('CANCELLED');
    expect(asStewardError('a string').code).toBe('INTERNAL');
    const e = new StewardError('NOT_FOUND', 'gone');
    expect(asStewardError(e)).toBe(e);
    expect(hasCode(e, 'NOT_FOUND') && !hasCode(e, 'INTERNAL') && !hasCode(new Error('x'), 'INTERNAL')).toBe(true);
  });
});
