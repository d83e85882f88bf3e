// Reads pg_basebackup's tar as it streams past, without holding it: the
// member names and two small files are all a full backup's facts need. The
// label (backup_label, first in the stream) gives where WAL replay starts and
// on which timeline; the manifest's tail (backup_manifest, last) gives where
// the backup ends; the pg_wal/ members say which segments the backup carries.
// Every header's checksum is checked, so output that is not a tar fails the
// backup before its metadata is written. Memory: one header, the label (a few
// hundred bytes, capped) and the last MANIFEST_TAIL bytes of the manifest.
import { Transform, type TransformCallback } from 'node:stream';
import { internal } from '../sdk/errors.js';

const BLOCK = 512;
const LABEL_MAX = 64 * 1024;
const MANIFEST_TAIL = 16 * 1024;

export interface TarScan {
  label?: string;
  manifestTail?: string;
  /** pg_wal/<segment> and pg_wal/<timeline>.history members, in stream order, without the directory. */
  walFiles: string[];
  members: number;
  /** The end-of-archive blocks were seen. */
  ended: boolean;
}

export interface TarScanner extends Transform {
  result(): TarScan;
}

/** A tar number field: octal text, or base-256 when the high bit of the first byte is set (large files). */
export function tarNumber(field: Buffer): number {
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`bad tar number ${JSON.stringify(text)}`);
  return text ? Number.parseInt(text, 8) : 0;
}

const cString = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '');

function headerChecksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  try {
    return tarNumber(h.subarray(148, 156)) === sum;
  } catch {
    return false; // not even a number where the checksum belongs
  }
}

interface Member {
  name: string;
  type: string;
  size: number;
}

function parseHeader(h: Buffer): Member {
  if (!headerChecksumOk(h)) throw internal('pg_basebackup output is not a tar stream (a header checksum does not match)');
  const name = cString(h.subarray(0, 100));
  // POSIX ustar keeps long paths' leading part in "prefix"; the old GNU format uses those bytes for other things.
  const posix = h.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posix ? cString(h.subarray(345, 500)) : '';
  return { name: prefix ? `${prefix}/${name}` : name, type: String.fromCharCode(h[156] || 0x30), size: tarNumber(h.subarray(124, 136)) };
}

export function tarScanner(): TarScanner {
  const out: TarScan = { walFiles: [], members: 0, ended: false };
  const header = Buffer.alloc(BLOCK);
  let filled = 0;
  let remaining = 0; // data bytes of the current member still to pass
  let padding = 0; // bytes up to the next block boundary after them
  let capture: 'label' | 'manifest' | undefined;
  let captured: Buffer[] = [];
  let capturedBytes = 0;

  const keep = (bytes: Buffer): void => {
    if (capture === 'label') {
      if (capturedBytes + bytes.length > LABEL_MAX) throw internal('backup_label is implausibly large');
      captured.push(bytes);
      capturedBytes += bytes.length;
    } else if (capture === 'manifest') {
      captured.push(bytes);
      capturedBytes += bytes.length;
      // Only the tail matters ("WAL-Ranges" comes last): drop what is no longer needed.
      while (captured.length > 1 && capturedBytes - captured[0].length >= MANIFEST_TAIL) capturedBytes -= captured.shift()!.length;
    }
  };
  const finishMember = (): void => {
    if (capture === 'label') out.label = Buffer.concat(captured).toString('utf8');
    if (capture === 'manifest') out.manifestTail = Buffer.concat(captured).subarray(-MANIFEST_TAIL).toString('utf8');
    capture = undefined;
    captured = [];
    capturedBytes = 0;
  };
  const startMember = (m: Member): void => {
    out.members++;
    remaining = m.size;
    padding = (BLOCK - (m.size % BLOCK)) % BLOCK;
    const regular = m.type === '0' || m.type === '7';
    if (regular && m.name === 'backup_label') capture = 'label';
    else if (regular && m.name === 'backup_manifest') capture = 'manifest';
    const wal = /^pg_wal\/([0-9A-F]{24}|[0-9A-F]{8}\.history)$/.exec(m.name);
    if (regular && wal) out.walFiles.push(wal[1]);
    if (remaining === 0) finishMember();
  };

  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        let off = 0;
        while (off < chunk.length && !out.ended) {
          if (remaining > 0) {
            const n = Math.min(remaining, chunk.length - off);
            if (capture) keep(Buffer.from(chunk.subarray(off, off + n)));
            remaining -= n;
            off += n;
            if (remaining === 0) finishMember();
            continue;
          }
          if (padding > 0) {
            const n = Math.min(padding, chunk.length - off);
            padding -= n;
            off += n;
            continue;
          }
          const n = Math.min(BLOCK - filled, chunk.length - off);
          chunk.copy(header, filled, off, off + n);
          filled += n;
          off += n;
          if (filled < BLOCK) continue;
          filled = 0;
          if (header.every((b) => b === 0)) out.ended = true;
          else startMember(parseHeader(header));
        }
        cb(null, chunk);
      } catch (err) {
        cb(err as Error);
      }
    },
  }) as TarScanner;
  t.result = () => out;
  return t;
}
