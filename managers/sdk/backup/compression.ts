// Compression stage. zstd runs as its own process (Debian's zstd package):
// multi-threaded and off the agent's event loop, which has the encryption and
// the checksum to do. gzip uses node:zlib for hosts without zstd.
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

export function compressStage(c: Compression, signal?: AbortSignal): Duplex {
  switch (c) {
    case 'zstd':
      // Level 1 with all cores: backups are bound by the tool's read speed, and the ratio barely improves past it.
      return filterStage({ command: ZSTD, args: ['-q', '-c', '-1', '-T0'] }, signal);
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
