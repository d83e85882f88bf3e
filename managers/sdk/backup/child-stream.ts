// A child process as a pipeline stage: the native backup tool (a source), or
// a filter such as zstd (stdin -> stdout). Pipes give backpressure for free: a
// slow storage write stalls the tool instead of growing a buffer. A non-zero
// exit fails the stage with the tail of the tool's stderr.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Duplex, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StewardError } from '../errors.js';
import { redactText } from '../redact.js';

export interface ToolCommand {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

export interface ChildStage {
  /** stdout of the process. */
  readonly output: Readable;
  /** stdin (spawned with `stdin: true`), for filters and extractors. */
  readonly input: Writable;
  /** Settles when the process has exited: rejects on a non-zero exit or a signal. */
  readonly exited: Promise<void>;
  kill(): void;
  /** The process id (undefined when it could not be started). */
  readonly pid?: number;
  /** The last STDERR_TAIL bytes the process wrote to stderr. */
  stderrTail(): string;
}

const STDERR_TAIL = 8 * 1024;

/**
 * `stdin`: true for a pipe from us (`input`); or another process' output
 * stream (a pipe or socket nobody has read from), whose descriptor becomes
 * this process' stdin: the data then goes from one process to the other
 * without passing through ours.
 */
export function spawnStage(cmd: ToolCommand, signal?: AbortSignal, opts: { stdin?: boolean | Readable } = {}): ChildStage {
  const child = spawn(cmd.command, cmd.args, {
    cwd: cmd.cwd ?? '/',
    env: cmd.env ?? process.env,
    uid: cmd.uid,
    gid: cmd.gid,
    stdio: [opts.stdin === true ? 'pipe' : opts.stdin || 'ignore', 'pipe', 'pipe'],
  }) as ChildProcessByStdio<Writable, Readable, Readable>;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_TAIL);
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  signal?.addEventListener('abort', kill, { once: true });
  const name = cmd.command.split('/').pop();
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new StewardError('INTERNAL', `${name}: ${err.message}`)));
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', kill);
      if (code === 0) return resolve();
      const tail = redactText(stderr.trim().split('\n').slice(-6).join('\n'));
      reject(new StewardError('INTERNAL', `${name} exited with ${code ?? `signal ${sig}`}${tail ? `: ${tail}` : ''}`));
    });
  });
  exited.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  // Without `stdin: true` there is no stdin; writing to this one then fails loudly.
  const input = (opts.stdin === true && child.stdin) || new Writable({ write: (_c, _e, cb) => cb(new Error(`${name} was started without stdin`)) });
  return { output: child.stdout, input, exited, kill, pid: child.pid, stderrTail: () => stderr };
}

/**
 * A filter process as one Duplex stage. Its end is held until the exit status
 * is known, so a filter that dies mid-way fails the pipeline instead of
 * passing on a short, well-formed-looking stream.
 */
export function filterStage(cmd: ToolCommand, signal?: AbortSignal): Duplex {
  const stage = spawnStage(cmd, signal, { stdin: true });
  const { input, output } = stage;
  input.on('error', () => undefined); // EPIPE once the filter died: reported through `exited`
  const duplex: Duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      // Accepted at once while the pipe takes it; otherwise once it drains (a dead filter is reported through `exited`).
      if (input.write(chunk)) cb();
      else input.once('drain', () => cb());
    },
    final(cb) {
      input.end(cb);
    },
    read() {
      output.resume();
    },
    destroy(err, cb) {
      stage.kill();
      cb(err);
    },
  });
  output.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) output.pause();
  });
  output.once('end', () => {
    stage.exited.then(
      () => duplex.push(null),
      (err: Error) => duplex.destroy(err),
    );
  });
  stage.exited.catch((err: Error) => duplex.destroy(err));
  return duplex;
}

/**
 * Streams `sources` (piped in order) into an extractor's stdin and waits for
 * both the stream and the process. On a failed stream the process is killed
 * and waited for before the error is thrown: an extractor still writing into
 * its target directory would race the caller's clean-up of it. The stream's
 * error wins (a backup that does not decrypt says so), unless it only says
 * that the extractor went away: then the extractor's own exit says why.
 */
export async function feedStage(stage: ChildStage, sources: [Readable, ...NodeJS.ReadWriteStream[]], signal?: AbortSignal): Promise<void> {
  try {
    await pipeline([...sources, stage.input], { signal });
  } catch (err) {
    stage.kill();
    const exit = await stage.exited.then(
      () => undefined,
      (e: unknown) => e,
    );
    const code = (err as NodeJS.ErrnoException).code;
    throw exit && (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE') ? exit : err;
  }
  await stage.exited;
}
