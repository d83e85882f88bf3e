// A fresh RDB snapshot straight from the server, the way a replica gets one:
// SYNC on the agent's own admin connection over the unix socket, so the
// password never reaches argv or a child process's environment.
//
// Why not `redis-cli --rdb -`: Redis 7.0's redis-cli copies the 40-byte end
// marker of a diskless transfer into stdout (it can only cut it off a regular
// file), so the stored "RDB" would carry trailing bytes. Here no marker arises:
// we do not announce `capa eof`, so the server makes a disk-based snapshot (a
// BGSAVE to its own dump.rdb, like its scheduled saves) and sends it with its
// length first. That also means no repl-diskless-sync-delay wait (5 s by
// default), exact progress, a cut-short transfer caught by the byte count, and
// no replication timeout while a slow storage holds the stream back.
// `REPLCONF rdb-only 1` asks for the snapshot and nothing after it: the server
// keeps no replication stream for this connection.
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { StewardError, internal } from '../sdk/errors.js';
import { redactText } from '../sdk/redact.js';
import { redisError } from './connection.js';

export interface RdbSyncOptions {
  socket: string;
  user: string;
  password: string;
  signal: AbortSignal;
  /** Called once the server has announced the snapshot's length, before its first byte passes. */
  onLength?: (bytes: number) => void;
  /** Longest silence before the transfer starts; the server sends a newline every second while it saves. */
  idleMs?: number;
}

export interface RdbSync {
  /** Exactly the RDB file's bytes; fails instead of ending when the transfer is cut short. */
  readonly output: Readable;
  /** The RDB format version from the file's header ("10"), once the first bytes have passed. */
  rdbVersion(): string;
}

/** "REDIS" and four digits: the RDB header. */
const HEADER = 9;
const MAX_LINE = 64 * 1024;

/** A command as the protocol sends it: an array of bulk strings (never parsed by the server as text). */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

function refused(command: string, line: string): StewardError {
  const message = redactText(line.slice(1, 300));
  const code = message.split(' ')[0];
  if (code === 'WRONGPASS' || code === 'NOAUTH' || code === 'NOPERM') return new StewardError('PERMISSION_DENIED', `Redis refused ${command}: ${message}`);
  return internal(`Redis refused ${command}: ${message}`);
}

export function syncRdb(o: RdbSyncOptions): RdbSync {
  o.signal.throwIfAborted();
  const steps: string[][] = [['AUTH', o.user, o.password], ['REPLCONF', 'rdb-only', '1'], ['SYNC']];
  let step = 0;
  let lines = Buffer.alloc(0);
  let total = -1; // announced length; -1 until the server has sent it
  let remaining = 0;
  let header = Buffer.alloc(0);
  let settled = false;

  const sock = connect({ path: o.socket });
  const output = new Readable({
    highWaterMark: 256 * 1024,
    read() {
      sock.resume();
    },
    destroy(err, cb) {
      settled = true;
      sock.destroy();
      cb(err);
    },
  });
  const fail = (err: Error): void => {
    if (settled) return;
    settled = true;
    sock.destroy();
    output.destroy(err);
  };
  const onAbort = () => fail(new StewardError('CANCELLED', 'the snapshot transfer was cancelled'));
  o.signal.addEventListener('abort', onAbort, { once: true });

  const deliver = (chunk: Buffer): void => {
    const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    remaining -= part.length;
    if (header.length < HEADER) {
      header = Buffer.concat([header, part.subarray(0, HEADER - header.length)]);
      // Checked before anything is passed on: whatever this is, it must not be stored as a backup.
      if (header.length === HEADER && !/^REDIS\d{4}$/.test(header.toString('latin1'))) {
        throw internal('Redis sent something that is not an RDB file in answer to SYNC');
      }
    }
    const more = output.push(part);
    if (remaining === 0) {
      if (header.length < HEADER) throw internal(`Redis sent a ${total}-byte snapshot, shorter than an RDB header`);
      settled = true;
      output.push(null);
      sock.destroy(); // the rest of a replica's conversation is not wanted
    } else if (!more) {
      sock.pause(); // resumed by read(): backpressure reaches the server through the socket
    }
  };

  const handshake = (chunk: Buffer): void => {
    lines = Buffer.concat([lines, chunk]);
    for (;;) {
      const nl = lines.indexOf(10);
      if (nl < 0) {
        if (lines.length > MAX_LINE) throw internal('Redis sent an over-long reply during SYNC');
        return;
      }
      const line = lines.subarray(0, nl).toString('latin1').replace(/\r$/, '');
      lines = lines.subarray(nl + 1);
      if (step < steps.length - 1) {
        if (line !== '+OK') throw line.startsWith('-') ? refused(steps[step][0], line) : internal(`unexpected reply to ${steps[step][0]}`);
        step += 1;
        sock.write(encodeCommand(steps[step]));
        continue;
      }
      if (line === '') continue; // keep-alive while the server writes the snapshot
      if (line.startsWith('-')) throw refused('SYNC', line);
      if (line.startsWith('$EOF:')) throw internal('Redis started a diskless transfer, which this agent did not offer to take');
      const m = /^\$(\d{1,15})$/.exec(line);
      if (!m) throw internal(`unexpected reply to SYNC: ${redactText(line.slice(0, 80))}`);
      total = Number(m[1]);
      remaining = total;
      if (total === 0) throw internal('Redis sent an empty snapshot');
      sock.setTimeout(0); // from here on, silence is our own backpressure
      o.onLength?.(total);
      const rest = lines;
      lines = Buffer.alloc(0);
      if (rest.length) deliver(rest);
      return;
    }
  };

  sock.setTimeout(o.idleMs ?? 60_000, () => fail(internal(`Redis did not start sending a snapshot within ${Math.round((o.idleMs ?? 60_000) / 1000)} s`)));
  sock.on('connect', () => sock.write(encodeCommand(steps[0])));
  sock.on('data', (chunk: Buffer) => {
    if (settled) return;
    try {
      if (total < 0) handshake(chunk);
      else deliver(chunk);
    } catch (err) {
      fail(err as Error);
    }
  });
  sock.on('error', (err) => fail(redisError(err)));
  sock.on('close', () => {
    o.signal.removeEventListener('abort', onAbort);
    fail(
      total < 0
        ? internal('Redis closed the connection before sending a snapshot')
        : internal(`Redis closed the connection after ${total - remaining} of ${total} snapshot bytes`),
    );
  });

  return {
    output,
    rdbVersion: () => (header.length === HEADER ? String(Number(header.subarray(5).toString('latin1'))) : ''),
  };
}
