// Validates notifications against schema.json, the one documented contract of
// the payloads (docs/notifications.md). Tests validate every event they see;
// operators can validate a captured file with it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import formats from 'ajv-formats';
import { assetUrl } from '../../managers/sdk/assets.js';

export const SCHEMA_PATH = fileURLToPath(assetUrl('controller/notifications/schema.json'));

let compiled: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

function validator() {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    formats.default(ajv, ['uuid']);
    compiled = ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object);
  }
  return compiled;
}

/** The schema violations of one notification (empty when it conforms). */
export function notificationErrors(n: unknown): string[] {
  const validate = validator();
  if (validate(n)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
}
