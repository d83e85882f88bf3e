// Runs a tool as a child process with a deadline and cancellation, and never
// lets a secret escape through its arguments, output or error message.
import { spawn } from 'node:child_process';
import { redactText } from './redact.js';
import { StewardError } from './errors.js';
import { scopedSignal } from './signals.js';

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed (use it for passwords, never argv). */
  input?: string;
  uid?: number;
  gid?: number;
  /** Accept these exit codes besides 0. */
  okCodes?: number[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Runner = (command: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

const MAX_CAPTURE = 1 << 20; // keep at most 1 MiB of each stream

export const run: Runner = (command, args, opts = {}) =>
  new Promise((resolve, reject) => {
    const scope = scopedSignal([opts.signal], opts.timeoutMs);
    const { signal } = scope;
    if (signal.aborted) return reject(abortError(command, signal));
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      uid: opts.uid,
      gid: opts.gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_CAPTURE) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_CAPTURE) stderr += d.toString();
    });
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdin.on('error', () => undefined); // the tool may exit before reading stdin
    child.stdin.end(opts.input ?? '');
    child.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      scope.dispose();
      reject(new StewardError('INTERNAL', redactText(`${command}: ${err.message}`)));
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      scope.dispose();
      if (signal.aborted) return reject(abortError(command, signal));
      const result = { code: code ?? -1, stdout: redactText(stdout), stderr: redactText(stderr) };
      if (code === 0 || (code !== null && opts.okCodes?.includes(code))) return resolve(result);
      const tail = failureSummary(result.stderr || result.stdout);
      reject(new StewardError('INTERNAL', `${command} exited with ${code ?? `signal ${sig}`}${tail ? `: ${tail}` : ''}`));
    });
  });

/**
 * What a failed tool said: its ERROR lines, or else its first lines (tools such
 * as mariadb-install-db state the cause first and end with boilerplate), then
 * its last lines.
 */
export function failureSummary(output: string): string {
  const lines = output.trim().split('\n');
  const errors = lines.filter((l) => /\b(error|fatal|failed)\b/i.test(l)).slice(-3);
  const head = errors.length > 0 ? errors : lines.slice(0, Math.max(0, Math.min(4, lines.length - 5)));
  const tail = lines.slice(-5).filter((l) => !head.includes(l));
  return [...head, ...tail].join('\n');
}

function abortError(command: string, signal: AbortSignal): StewardError {
  const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
  return new StewardError(timedOut ? 'DEADLINE_EXCEEDED' : 'CANCELLED', `${command} ${timedOut ? 'timed out' : 'was cancelled'}`);
}
