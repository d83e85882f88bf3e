// The end of a server's log, for the error of a failed start: the reason is
// almost always in its last lines, and without them the operator has to log in
// to the machine to find it.
import { open } from 'node:fs/promises';
import { redactText } from './redact.js';

/** The last `lines` lines of a file (within its last `maxBytes`), secrets masked; '' when it cannot be read. */
export async function logTail(path: string, lines = 8, maxBytes = 8192): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const length = Math.min(size, maxBytes);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      return redactText(buf.toString('utf8').trim().split('\n').slice(-lines).join('\n'));
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/** The tails of several logs, in the order given, leaving out those with nothing to say. */
export async function logTails(paths: readonly string[]): Promise<string> {
  return (await Promise.all(paths.map((p) => logTail(p)))).filter(Boolean).join('\n');
}
