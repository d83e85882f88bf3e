// Structured JSON logs to stdout (journald keeps them under systemd). Secrets are
// hidden twice: by field name (pino's redact) and by value (redact.ts).
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { redactText, SECRET_FIELDS, REDACTED } from './redact.js';

export type Logger = PinoLogger;

const redactPaths = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

export function createLogger(name: string, opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const dest = opts.destination ?? pino.destination({ dest: 1, sync: true });
  const redacting: DestinationStream = { write: (line: string) => dest.write(redactText(line)) };
  return pino(
    {
      name,
      level: opts.level ?? process.env.STEWARD_LOG_LEVEL ?? 'info',
      redact: { paths: redactPaths, censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
    },
    redacting,
  );
}
