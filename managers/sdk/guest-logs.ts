// Datastore logs (capability "logs"), the same way for every datastore. A
// manager describes its logs as data (LogSpec: the file, and for an optional
// log the parameters that turn it on); this module lists them, turns optional
// ones on and off through the configuration machinery (the parameters are
// recorded in ConfigurationState over the group, so every render keeps them,
// then rendered and applied live), reads a log's end and publishes a copy to
// backup storage. Every byte that leaves is redacted first: a password the
// agent knows never reaches a caller or storage.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { GuestLog, GuestLogCommand, GuestLogTail, PublishedLogArtifact, PublishLogCommand } from '../../proto/gen/steward/v1/log-types.js';
import { checkCompression } from './backup/compression.js';
import { forget, newDataKey, WRAPPING_KEY_BYTES, wrapDataKey } from './backup/keys.js';
import { dataKey as dataObject } from './backup/layout.js';
import { discardBackup, saveStream } from './backup/pipeline.js';
import { byteProgress } from './backup/progress.js';
import { ENCRYPTION } from './backup/secretstream.js';
import { openStorage } from './backup/storage/open.js';
import { checkParameters, type ParameterCatalog } from './configuration.js';
import type { ConfigurationState } from './configuration-state.js';
import type { OperationScope } from './contract.js';
import { failedPrecondition, invalidArgument, notFound } from './errors.js';
import { redactText } from './redact.js';

export interface LogSpec {
  readonly name: string;
  readonly description: string;
  /** The file the log is written to now (for a log the server rotates, the newest); undefined when there is none yet. */
  file(): Promise<string | undefined>;
  /** Optional logs: the parameters that turn it on and off, and whether the values in force have it on. */
  readonly switch?: {
    on(thresholdMs: number | undefined): Record<string, string>;
    off: Record<string, string>;
    isOn(values: Record<string, string>): boolean;
    /** The threshold in force, for a slow log. */
    thresholdMs?(values: Record<string, string>): number;
  };
}

export interface LogOps {
  list(op: OperationScope): Promise<GuestLog[]>;
  enable(req: GuestLogCommand, op: OperationScope): Promise<GuestLog>;
  disable(req: GuestLogCommand, op: OperationScope): Promise<GuestLog>;
  show(req: GuestLogCommand, op: OperationScope): Promise<GuestLogTail>;
  publish(req: PublishLogCommand, op: OperationScope): Promise<PublishedLogArtifact>;
}

/** What a manager hands over: its logs, and for optional ones the configuration they switch. */
export interface GuestLogSource {
  readonly instanceId: string;
  readonly specs: readonly LogSpec[];
  /** Present when some log is optional. */
  readonly configuration?: {
    readonly catalog: ParameterCatalog;
    readonly state: ConfigurationState;
    /** Steward's defaults for this instance. */
    defaults(): Promise<Record<string, string>>;
    /** Renders the config again from the state and hands the server its dynamic values now. */
    apply(op: OperationScope): Promise<void>;
  };
}

const NAME = /^[a-z][a-z0-9_]{0,31}$/;
const DEFAULT_LINES = 50;
const MAX_LINES = 1000;
/** `show` reads at most this much of a file's end. */
const MAX_TAIL_BYTES = 1 << 20;
/** A publish line longer than this is cut: redaction works on whole lines, and a log line is rarely this long. */
const MAX_LINE = 64 * 1024;
/** Longer than any secret the agent knows: a long line is cut this far before the end of what has been read, where no secret spans the cut. */
const SECRET_SPAN = 4096;

export function checkLogName(name: string, field = 'name'): string {
  if (!NAME.test(name)) throw invalidArgument(field, 'must be a log name: 1-32 lower-case letters, digits or "_"');
  return name;
}

export function checkLogCommand(req: GuestLogCommand): void {
  checkLogName(req.name);
  if (req.lines > MAX_LINES) throw invalidArgument('lines', `must be at most ${MAX_LINES}`);
  if (req.thresholdMs > 3_600_000) throw invalidArgument('threshold_ms', 'must be at most 3600000 (an hour)');
}

export function checkPublishCommand(req: PublishLogCommand): void {
  checkLogName(req.name);
  if (!/^[0-9a-f-]{36}$/.test(req.publishId)) throw invalidArgument('publish_id', 'must be a UUID');
  if (req.key?.wrappingKey?.length !== WRAPPING_KEY_BYTES) throw invalidArgument('key.wrapping_key', `must be ${WRAPPING_KEY_BYTES} bytes`);
  checkCompression(req.compression);
}

export function guestLogs(src: GuestLogSource): LogOps {
  const spec = (name: string): LogSpec => {
    const s = src.specs.find((x) => x.name === name);
    if (!s) throw notFound(`this datastore has no log ${JSON.stringify(name)}; it has ${src.specs.map((x) => x.name).join(', ')}`);
    return s;
  };
  const inForce = async () => (src.configuration ? { ...(await src.configuration.defaults()), ...(await src.configuration.state.values()) } : {});
  const info = async (s: LogSpec, values: Record<string, string>): Promise<GuestLog> => {
    const file = await s.file();
    const size = file
      ? await stat(file).then(
          (st) => st.size,
          () => 0,
        )
      : 0;
    return {
      name: s.name,
      optional: !!s.switch,
      enabled: s.switch ? s.switch.isOn(values) : true,
      size,
      description: s.description,
      thresholdMs: s.switch?.thresholdMs?.(values) ?? 0,
      published: 0,
    };
  };
  const optional = (name: string) => {
    const s = spec(name);
    const cfg = src.configuration;
    if (!s.switch || !cfg) throw failedPrecondition(`log ${name} is always on: it cannot be enabled or disabled`);
    return { s, sw: s.switch, cfg };
  };

  return {
    async list() {
      const values = await inForce();
      return Promise.all(src.specs.map((s) => info(s, values)));
    },

    async enable(req, op) {
      const { s, sw, cfg } = optional(req.name);
      const on = checkParameters(cfg.catalog.rules, sw.on(req.thresholdMs || undefined), 'threshold_ms');
      await switchTo(cfg, s.name, on, op);
      return info(s, await inForce());
    },

    async disable(req, op) {
      const { s, sw, cfg } = optional(req.name);
      // Off, whatever the group says: disabling is the operator's word for this log.
      await switchTo(cfg, s.name, checkParameters(cfg.catalog.rules, sw.off, 'name'), op);
      return info(s, await inForce());
    },

    async show(req) {
      const s = spec(req.name);
      const file = await s.file();
      if (!file) return { name: s.name, text: '', truncated: false, size: 0 };
      return { name: s.name, ...(await tail(file, req.lines || DEFAULT_LINES)) };
    },

    async publish(req, op) {
      const s = spec(req.name);
      const file = await s.file();
      if (!file) throw failedPrecondition(`log ${s.name} has no file yet: nothing to publish`);
      // What is there now: the server keeps writing, the copy ends where the file ended when it started.
      const size = (await stat(file)).size;
      const dataKey = newDataKey();
      const storage = openStorage(req.storage);
      try {
        const progress = byteProgress(op, 'publishing', [5, 95], size);
        const saved = await saveStream({
          source: (size ? createReadStream(file, { start: 0, end: size - 1 }) : Readable.from([])).pipe(redactingLines()),
          storage,
          key: dataObject(src.instanceId, req.publishId),
          dataKey,
          compression: checkCompression(req.compression),
          signal: op.signal,
          onRawBytes: progress,
        });
        op.progress(100, `published ${saved.rawSize} bytes of ${s.name}`);
        return {
          publishId: req.publishId,
          name: s.name,
          size: saved.size,
          rawSize: saved.rawSize,
          checksum: saved.checksum,
          location: saved.location,
          compression: checkCompression(req.compression),
          encryption: ENCRYPTION,
          wrappedKey: wrapDataKey(dataKey, Buffer.from(req.key!.wrappingKey), req.publishId),
          keyRef: req.key!.keyRef,
        };
      } catch (err) {
        // Nothing half-written stays behind: the controller records no copy of a failed publish.
        await discardBackup(storage, src.instanceId, req.publishId).catch(() => undefined);
        throw err;
      } finally {
        forget(dataKey);
        storage.close();
      }
    },
  };
}

/** Records the log's parameters, renders and applies; a failed apply takes the previous switch back. */
async function switchTo(cfg: NonNullable<GuestLogSource['configuration']>, name: string, values: Record<string, string>, op: OperationScope): Promise<void> {
  const before = (await cfg.state.logSwitches())[name];
  await cfg.state.setLog(name, values);
  try {
    await cfg.apply(op);
  } catch (err) {
    await cfg.state.setLog(name, before);
    await cfg.apply(op).catch(() => undefined);
    throw err;
  }
}

/** The last `lines` lines of a file (within its last MiB), redacted. */
async function tail(file: string, lines: number): Promise<Omit<GuestLogTail, 'name'>> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, MAX_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    let all = buf.toString('utf8').split('\n');
    if (all.at(-1) === '') all = all.slice(0, -1);
    // A window that starts mid-file starts mid-line: that first piece is not a line.
    if (length < size) all = all.slice(1);
    const kept = all.slice(-lines);
    return { text: redactText(kept.join('\n')), truncated: kept.length < all.length || length < size, size };
  } finally {
    await fh.close();
  }
}

/** Redacts a stream line by line (a secret never spans lines in a log). */
function redactingLines(): Transform {
  let pending = '';
  const text = new StringDecoder('utf8'); // a chunk may end inside a character
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      pending += text.write(chunk);
      const cut = pending.lastIndexOf('\n');
      if (cut < 0 && pending.length < MAX_LINE) return done();
      // Not where the read ended: a secret there would go out in two halves, neither redacted.
      const upTo = cut < 0 ? safeCut(pending, pending.length - SECRET_SPAN) : cut + 1;
      const out = redactText(pending.slice(0, upTo));
      pending = pending.slice(upTo);
      done(null, out);
    },
    flush(done: TransformCallback) {
      pending += text.end();
      done(null, pending ? redactText(pending) : undefined);
    },
  });
}

/**
 * Where a long line may be cut, at or before `at`: a place no secret spans
 * (redacting the two sides apart gives what redacting them together gives)
 * and not inside a character. `text` goes on for SECRET_SPAN past `at`, so a
 * secret spanning a cut there is whole in the window looked at.
 */
function safeCut(text: string, at: number): number {
  for (let c = at; c > Math.max(0, at - SECRET_SPAN); c--) {
    const code = text.charCodeAt(c - 1);
    if (code >= 0xd800 && code <= 0xdbff) continue; // the first half of a surrogate pair
    const from = Math.max(0, c - SECRET_SPAN);
    const window = text.slice(from, c + SECRET_SPAN);
    if (redactText(window) === redactText(window.slice(0, c - from)) + redactText(window.slice(c - from))) return c;
  }
  return at; // a text of secrets end to end, with no place between them: cut anyway
}
