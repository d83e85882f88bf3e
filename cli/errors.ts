// Every failure ends as one stderr line, `stewardctl: <CODE>: <message>`, and an
// exit code scripts can branch on: 1 when the server (or an operation) said no,
// 2 when the command line itself was wrong and nothing was sent.
import { status, type ServiceError } from '@grpc/grpc-js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** Interrupted with Ctrl-C while waiting (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad flags, arguments or configuration: nothing was sent to the controller. */
export class UsageError extends CliError {
  constructor(message: string) {
    super('USAGE', message, EXIT_USAGE);
  }
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

export function codeName(code: number): string {
  return status[code] ?? `CODE_${code}`;
}

/**
 * grpc-js wraps a refused connection as "No connection established. Last
 * error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: "; only the
 * middle part tells the operator anything.
 */
function connectionReason(details: string): string {
  return details
    .replace(/^No connection established\.\s*Last error:\s*/i, '')
    .replace(/^Error:\s*/, '')
    .replace(/\.?\s*Resolution note:.*$/s, '')
    .trim();
}

export interface Target {
  address: string;
  /** Where the address came from, so the hint names the knob to turn. */
  source: string;
  configPath: string;
  insecure: boolean;
  caFile?: string;
}

/**
 * A gRPC failure as a CliError. `connected` tells a refusal the server sent
 * (the channel was up) from a controller we never reached: both arrive as
 * UNAVAILABLE, but only the second deserves the "check the address" hint.
 */
export function fromServiceError(err: ServiceError, target: Target, connected: boolean): CliError {
  const code = codeName(err.code);
  const details = (err.details || err.message).replace(/\s+/g, ' ').trim();
  if (err.code === status.UNAVAILABLE && !connected) {
    const reason = connectionReason(details);
    return new ConnectionError(`cannot reach the controller at ${target.address} (${reason}); ${connectionHint(reason, target)}`);
  }
  if (err.code === status.UNAUTHENTICATED) {
    const how = target.insecure
      ? 'stewardctl sends no token over --insecure plain text; use TLS (--ca-file)'
      : `give a token with STEWARD_TOKEN or "token" in ${target.configPath}`;
    return new CliError(code, `${details}; ${how}`);
  }
  return new CliError(code, details);
}

function connectionHint(reason: string, t: Target): string {
  if (/certificate|self[- ]signed|unable to verify|SSL|TLS|handshake|wrong version/i.test(reason)) {
    return t.caFile
      ? `TLS failed with the CA in ${t.caFile}: is it the controller's CA (<dataDir>/pki/ca.pem)?`
      : 'TLS failed: give the controller\'s CA with --ca-file, STEWARD_CA_FILE or "caFile" in the config file (<dataDir>/pki/ca.pem on the controller)';
  }
  const mode = t.insecure ? ' (plain text: is the controller really running with --insecure-dev?)' : '';
  return `that address came from ${t.source}${mode}: set another with --controller, STEWARD_CONTROLLER or "controller" in ${t.configPath}`;
}

/** The controller could not be reached at all (as opposed to it refusing a request). */
export class ConnectionError extends CliError {
  constructor(message: string) {
    super('UNAVAILABLE', message, EXIT_FAILED);
  }
}

/** Anything thrown, as the one line and exit code the user gets. */
export function asCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof Error) return new CliError('INTERNAL', err.message.replace(/\s+/g, ' '));
  return new CliError('INTERNAL', String(err));
}

export function formatError(err: CliError): string {
  return `stewardctl: ${err.code}: ${err.message}`;
}
