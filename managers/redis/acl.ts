// Reading and changing ACL users on the server. Every change is followed by
// ACL SAVE, so it survives a restart; when the save fails, ACL LOAD puts the
// server back to what the file says, so memory and disk never disagree.
import { internal, invalidArgument } from '../sdk/errors.js';
import { redactText } from '../sdk/redact.js';
import { redisError, replyCode, type Session } from './connection.js';

export interface AclUser {
  name: string;
  flags: string[];
  keys: string;
  channels: string;
  commands: string;
  selectors: string[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString() : v == null ? '' : String(v));

/** RESP2 maps arrive as [key, value, key, value, ...]. */
function pairs(reply: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(str(reply[i]), reply[i + 1]);
  return out;
}

/** The rules part of a user or selector, the way Redis describes it. */
function rulesOf(m: Map<string, unknown>): string {
  return [str(m.get('keys')), str(m.get('channels')), str(m.get('commands'))].filter(Boolean).join(' ');
}

/** `ACL GETUSER`, or undefined when the user does not exist. */
export async function getAclUser(s: Session, name: string): Promise<AclUser | undefined> {
  const reply = await s.call('ACL', 'GETUSER', name);
  if (reply === null || reply === undefined) return undefined;
  const m = pairs(reply);
  const flags = m.get('flags');
  const selectors = m.get('selectors');
  return {
    name,
    flags: Array.isArray(flags) ? flags.map(str) : [],
    keys: str(m.get('keys')),
    channels: str(m.get('channels')),
    commands: str(m.get('commands')),
    selectors: Array.isArray(selectors) ? selectors.map((sel) => rulesOf(pairs(sel))) : [],
  };
}

/** A user's permissions as one rule string: Redis's own normalised description. */
export function describePermissions(u: AclUser): string {
  const root = rulesOf(
    new Map<string, unknown>([
      ['keys', u.keys],
      ['channels', u.channels],
      ['commands', u.commands],
    ]),
  );
  return [root, ...u.selectors.map((sel) => `(${sel})`)].filter(Boolean).join(' ');
}

export const isEnabled = (u: AclUser): boolean => u.flags.includes('on');

export async function listAclUserNames(s: Session): Promise<string[]> {
  const reply = await s.call('ACL', 'USERS');
  return Array.isArray(reply) ? reply.map(str) : [];
}

/**
 * `ACL SETUSER name ...rules`. Redis applies all of the rules or none of them.
 * A rule the server refuses (say, a command name it does not know) is bad input
 * and reported against `field`.
 */
export async function setAclUser(s: Session, name: string, rules: readonly string[], field: string): Promise<void> {
  try {
    await s.call('ACL', 'SETUSER', name, ...rules);
  } catch (err) {
    const message = (err as Error).message ?? '';
    if (replyCode(err) === 'ERR' && /Error in ACL SETUSER modifier/i.test(message)) {
      // The server echoes the refused token; the password token is never one of ours that fails, and is redacted anyway.
      throw invalidArgument(field, `refused by Redis: ${redactText(message.replace(/^ERR /, ''))}`);
    }
    throw redisError(err);
  }
}

export async function deleteAclUser(s: Session, name: string): Promise<number> {
  return Number(await s.call('ACL', 'DELUSER', name));
}

/** Writes the server's users to the ACL file; on failure restores the server's users from it. */
export async function persistAcl(s: Session): Promise<void> {
  try {
    await s.call('ACL', 'SAVE');
  } catch (err) {
    const cause = redisError(err);
    if (cause.code === 'UNAVAILABLE') throw cause;
    const reverted = await s.call('ACL', 'LOAD').then(
      () => 'the change was reverted',
      (e: Error) => `reverting it failed too (${redisError(e).message})`,
    );
    throw internal(`could not save the ACL file, ${reverted}: ${cause.message}`);
  }
}
