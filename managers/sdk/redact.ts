// Secret values known to this process. The logger and the child-process runner
// replace every occurrence with a marker, so a secret never reaches a log even
// when it turns up inside an error message or a tool's output.
const secrets = new Set<string>();
const MIN_SECRET_LENGTH = 6; // shorter strings would redact ordinary words

export const REDACTED = '[REDACTED]';

export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

export function redactText(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** Field names whose values are always hidden, wherever they appear. */
export const SECRET_FIELDS = ['password', 'secret', 'token', 'privateKey', 'private_key', 'key', 'authorization'];
