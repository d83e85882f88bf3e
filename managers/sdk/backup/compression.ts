// Compression stage. zstd runs as its own process (Debian's zstd package):
// multi-threaded and off the agent's event loop, which has the encryption and
// the checksum to do. gzip uses node:zlib for hosts without zstd.
import { spawnSync } from 'node:child_process';
import { PassThrough, type Duplex } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { invalidArgument } from '../errors.js';
import { filterStage } from './child-stream.js';

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export const DEFAULT_COMPRESSION: Compression = 'zstd';

export const ZSTD = process.env.STEWARD_ZSTD ?? '/usr/bin/zstd';

export function checkCompression(value: string, field = 'compression'): Compression {
  const c = (value || DEFAULT_COMPRESSION) as Compression;
  if (!COMPRESSIONS.includes(c)) throw invalidArgument(field, `must be one of ${COMPRESSIONS.join(', ')}`);
  return c;
}

/** Level 1 with all cores: backups are bound by the tool's read speed, and the ratio barely improves past it. */
const ZSTD_COMPRESS = ['-c', '-1', '-T0'];

export function compressStage(c: Compression, signal?: AbortSignal): Duplex {
  switch (c) {
    case 'zstd':
      return filterStage({ command: ZSTD, args: ['-q', ...ZSTD_COMPRESS] }, signal);
    case 'gzip':
      return createGzip({ level: 1, memLevel: 8, chunkSize: 64 * 1024 });
    case 'none':
      return new PassThrough();
  }
}

export function decompressStage(c: Compression, signal?: AbortSignal): Duplex {
  switch (c) {
    case 'zstd':
      return filterStage({ command: ZSTD, args: ['-q', '-d', '-c'] }, signal);
    case 'gzip':
      return createGunzip({ chunkSize: 64 * 1024 }); // a truncated gzip stream is an error, not a short restore
    case 'none':
      return new PassThrough();
  }
}

// zstd reading straight from the native tool (see saveStream) leaves us no
// chance to count the tool's bytes; zstd counts them instead. At -vv its
// closing line gives both sizes exactly, e.g.
//   /*stdin*\            : 52.65%   (1073281918 B => 565090912 B, /*stdout*\)
// (zstd 1.4 printed "(1073281918 => 565090912 bytes, ...)"). The compressed
// size is checked against the bytes we received, so a misread never passes.

/** zstd arguments that compress like compressStage's and report sizes on stderr. */
export const ZSTD_COMPRESS_COUNTING = [...ZSTD_COMPRESS, '-vv'];

/** The uncompressed and compressed sizes in zstd's closing line, if there is one. */
export function zstdSizes(stderr: string): { raw: number; compressed: number } | undefined {
  const lines = stderr.split(/[\r\n]+/).filter((l) => l.includes('=>'));
  const m = /\(\s*(\d+)\s*(?:B\s*)?=>\s*(\d+)\s*(?:B|bytes)\s*,/.exec(lines.at(-1) ?? '');
  return m ? { raw: Number(m[1]), compressed: Number(m[2]) } : undefined;
}

let counting: boolean | undefined;

/**
 * Whether this zstd reports exact sizes as zstdSizes reads them: tried once
 * per process, on a few bytes (a few milliseconds; synchronous, so that a
 * backup can decide while the tool's output is still untouched).
 */
export function zstdCountsBytes(): boolean {
  if (counting === undefined) {
    const probe = Buffer.from('steward zstd probe: sizes exact\n');
    const r = spawnSync(ZSTD, ZSTD_COMPRESS_COUNTING, { input: probe, timeout: 10_000, maxBuffer: 1024 * 1024 });
    const sizes = r.status === 0 ? zstdSizes(String(r.stderr)) : undefined;
    counting = sizes?.raw === probe.length && sizes.compressed === r.stdout.length;
  }
  return counting;
}
