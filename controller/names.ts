// The names people give things in the public API, checked one way everywhere:
// display names (instances, backups), labels (API tokens) and tenant ids. A
// name is shown back in tables, logs, events and Trove clients, so it must be
// well-formed Unicode without control or format characters (no bidi tricks,
// no lone surrogates that turn into mojibake in the store).
import { invalidArgument } from '../managers/sdk/errors.js';

const MAX_DISPLAY = 255;
const MAX_DESCRIPTION = 1024;

/** Any character of Unicode's "other" categories: controls, format (bidi overrides), surrogates, private use, unassigned. */
const INVISIBLE = /\p{C}/u;

function checkText(value: string, field: string, max: number): void {
  if (!value.isWellFormed()) throw invalidArgument(field, 'is not well-formed Unicode (a lone surrogate)');
  if ([...value].length > max) throw invalidArgument(field, `is longer than ${max} characters`);
}

/** A display name: 1-255 characters after trimming, printable; returned trimmed. */
export function checkDisplayName(value: string, field: string): string {
  const name = value.trim();
  if (!name) throw invalidArgument(field, 'is required');
  checkText(name, field, MAX_DISPLAY);
  if (INVISIBLE.test(name)) throw invalidArgument(field, 'contains control or invisible formatting characters');
  return name;
}

/** A free-text description: up to 1024 characters, line breaks and tabs allowed, nothing else invisible. */
export function checkDescription(value: string, field: string): string {
  checkText(value, field, MAX_DESCRIPTION);
  if (/[^\P{C}\n\t]/u.test(value)) throw invalidArgument(field, 'contains control or invisible formatting characters');
  return value;
}

/** A token's label: 1-128 letters, digits, spaces and . _ @ : / ( ) + -, starting with a letter or digit. */
const LABEL = /^[\p{L}\p{N}][\p{L}\p{N} ._@:/()+-]{0,127}$/u;

export function checkLabel(value: string, field: string): string {
  checkText(value, field, 128);
  if (!LABEL.test(value)) throw invalidArgument(field, 'must be 1-128 letters, digits, spaces or . _ @ : / ( ) + -, starting with a letter or digit');
  return value;
}

/** Tenant ids appear in paths (`/v1.0/{tenant}`), event payloads and logs: a lower-case identifier. */
const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function checkTenantId(value: string, field: string): string {
  if (!TENANT.test(value)) throw invalidArgument(field, 'must be 1-63 lower-case letters, digits, "_" or "-", starting with a letter or digit');
  return value;
}
