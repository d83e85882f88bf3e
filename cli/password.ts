// Passwords without argv: `--password-stdin` reads a pipe (`pass show db |
// stewardctl ...`) or, at a terminal, prompts without echo. Either way the
// secret never reaches shell history or `ps`.
import { CliError, EXIT_INTERRUPTED, UsageError } from './errors.js';

export interface PasswordOptions {
  password?: string;
  passwordStdin?: boolean;
}

async function readPipe(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // `echo secret |` adds one newline; anything else is part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError('CANCELLED', 'password entry interrupted', EXIT_INTERRUPTED));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/**
 * The password from exactly one of --password / --password-stdin. `confirm`
 * asks twice at a terminal, for passwords being set rather than used.
 */
export async function readPassword(opts: PasswordOptions, what: string, confirm = true): Promise<string> {
  if (opts.password !== undefined && opts.passwordStdin) throw new UsageError('give --password or --password-stdin, not both');
  if (opts.password !== undefined) {
    if (!opts.password) throw new UsageError('--password is empty');
    return opts.password;
  }
  if (!opts.passwordStdin) throw new UsageError(`a password is required for ${what}: give --password or --password-stdin`);
  if (!process.stdin.isTTY) {
    const p = await readPipe();
    if (!p) throw new UsageError('--password-stdin: stdin was empty');
    return p;
  }
  const p = await promptHidden(`Password for ${what}: `);
  if (!p) throw new UsageError('empty password');
  if (confirm && (await promptHidden('Repeat it: ')) !== p) throw new UsageError('the two passwords differ');
  return p;
}
