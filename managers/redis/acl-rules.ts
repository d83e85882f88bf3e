// The permission language of Redis users. A user's `permissions` is one of the
// presets or an ACL rule string, checked against a whitelist grammar:
//
//   ~pattern  %R~pattern  %W~pattern  %RW~pattern   keys the user may touch (read / write / both)
//   &pattern                                         pub/sub channels
//   +@category  -@category                           command categories (granting admin/dangerous/all refused)
//   +command  -command  +command|sub  -command|sub   single commands (granting admin/dangerous ones refused)
//
// tokens separated by single spaces. Everything else (passwords, on/off, nopass,
// reset*, allcommands, selectors, unicode, ...) is refused: the account itself
// (password, enabled) belongs to Steward, the rule only says what it may do.
//
// Two layers keep dangerous commands away from user accounts: the grammar
// refuses asking for them (a clear error instead of a silent no-op), and the
// rules actually sent always end with GUARD_RULES, so a category that happens to
// include a dangerous command (+@keyspace holds FLUSHALL, +@slow holds CONFIG)
// or a command a later Redis marks dangerous is still taken away.
import { invalidArgument } from '../sdk/errors.js';
import { describeValue } from '../sdk/identifiers.js';

/** Redis 7's command categories (ACL CAT). */
export const ACL_CATEGORIES: readonly string[] = [
  'keyspace',
  'read',
  'write',
  'set',
  'sortedset',
  'list',
  'hash',
  'string',
  'bitmap',
  'hyperloglog',
  'geo',
  'stream',
  'pubsub',
  'admin',
  'fast',
  'slow',
  'blocking',
  'dangerous',
  'connection',
  'transaction',
  'scripting',
];

/** Categories a user rule may remove but never grant. */
const UNGRANTABLE_CATEGORIES = new Set(['all', 'admin', 'dangerous']);

/**
 * Commands and subcommands in @admin or @dangerous on Redis 7.0 (ACL CAT admin,
 * ACL CAT dangerous). Granting one is refused up front; GUARD_RULES removes them
 * (and any newer ones) regardless.
 */
export const DANGEROUS_COMMANDS: ReadonlySet<string> = new Set([
  'acl|deluser',
  'acl|dryrun',
  'acl|getuser',
  'acl|list',
  'acl|load',
  'acl|log',
  'acl|save',
  'acl|setuser',
  'acl|users',
  'bgrewriteaof',
  'bgsave',
  'client|kill',
  'client|list',
  'client|no-evict',
  'client|pause',
  'client|unblock',
  'client|unpause',
  'cluster|addslots',
  'cluster|addslotsrange',
  'cluster|bumpepoch',
  'cluster|count-failure-reports',
  'cluster|delslots',
  'cluster|delslotsrange',
  'cluster|failover',
  'cluster|flushslots',
  'cluster|forget',
  'cluster|meet',
  'cluster|replicas',
  'cluster|replicate',
  'cluster|reset',
  'cluster|saveconfig',
  'cluster|set-config-epoch',
  'cluster|setslot',
  'cluster|slaves',
  'config|get',
  'config|resetstat',
  'config|rewrite',
  'config|set',
  'debug',
  'failover',
  'flushall',
  'flushdb',
  'info',
  'keys',
  'lastsave',
  'latency|doctor',
  'latency|graph',
  'latency|histogram',
  'latency|history',
  'latency|latest',
  'latency|reset',
  'migrate',
  'module|list',
  'module|load',
  'module|loadex',
  'module|unload',
  'monitor',
  'pfdebug',
  'pfselftest',
  'psync',
  'replconf',
  'replicaof',
  'restore',
  'restore-asking',
  'role',
  'save',
  'shutdown',
  'slaveof',
  'slowlog|get',
  'slowlog|len',
  'slowlog|reset',
  'sort',
  'sort_ro',
  'swapdb',
  'sync',
]);

/** Container commands with dangerous subcommands: granting the whole container would grant those. */
const DANGEROUS_CONTAINERS = new Set([...DANGEROUS_COMMANDS].filter((c) => c.includes('|')).map((c) => c.split('|')[0]));

/** Appended to every user rule sent to the server; see the header. */
export const GUARD_RULES: readonly string[] = ['-@admin', '-@dangerous'];

export const PRESETS: Readonly<Record<string, string>> = {
  // No channels: publishing is writing, and SUBSCRIBE needs a channel pattern.
  'read-only': '~* -@all +@read +@connection +@transaction',
  // Scripting is in: queue and rate-limit libraries depend on EVAL, and scripts
  // run their commands under the caller's own ACL.
  'read-write': '~* &* -@all +@read +@write +@connection +@transaction +@pubsub +@scripting',
};

/** What a user gets when the request leaves `permissions` empty: the ordinary application account. */
export const DEFAULT_PERMISSIONS = 'read-write';

export const MAX_RULE_LENGTH = 1024;
export const MAX_RULE_TOKENS = 64;

// Globs only, from a set that needs no quoting: the server writes patterns
// unquoted into the ACL file, where a quote or backslash would be parsed again
// on the next start (and a bad line stops the server from starting at all).
const PATTERN = /^[A-Za-z0-9_\-:.*?[\]^!{}/@#$+=,]{1,256}$/;
const COMMAND = /^[A-Za-z][A-Za-z0-9_-]{0,63}(\|[A-Za-z0-9][A-Za-z0-9_-]{0,63})?$/;

const REFUSED_WORDS: Readonly<Record<string, string>> = {
  on: 'the account is enabled by Steward; "on" and "off" are not rule tokens',
  off: 'the account is enabled by Steward; "on" and "off" are not rule tokens',
  nopass: 'every user needs a password; "nopass" is not allowed',
  resetpass: 'passwords are set through the password field, not the rule',
  reset: 'Steward starts every rule from nothing; reset tokens are not allowed',
  resetkeys: 'Steward starts every rule from nothing; reset tokens are not allowed',
  resetchannels: 'Steward starts every rule from nothing; reset tokens are not allowed',
  clearselectors: 'selectors are not supported',
  allcommands: 'grants every command, admin ones included; name the categories instead',
  allkeys: 'write "~*" instead',
  allchannels: 'write "&*" instead',
  nocommands: 'write "-@all" instead',
  'sanitize-payload': 'payload sanitisation is not configurable',
  'skip-sanitize-payload': 'payload sanitisation is not configurable',
};

function checkPattern(pattern: string, token: string, at: string, field: string): void {
  if (!PATTERN.test(pattern)) {
    throw invalidArgument(field, `${at} ${describeValue(token)}: a pattern is 1-256 of letters, digits and _ - : . * ? [ ] ^ ! { } / @ # $ + = ,`);
  }
}

function checkToken(token: string, i: number, field: string): void {
  const at = `token ${i + 1}`;
  const lower = token.toLowerCase();
  const refusal = Object.hasOwn(REFUSED_WORDS, lower) ? REFUSED_WORDS[lower] : undefined;
  if (refusal) throw invalidArgument(field, `${at} ${describeValue(token)}: ${refusal}`);
  const first = token[0];
  if (first === '>' || first === '<') throw invalidArgument(field, `${at}: passwords are set through the password field, not the rule`);
  if (first === '#' || first === '!') throw invalidArgument(field, `${at}: password hashes cannot be set in a rule`);
  if (first === '(') throw invalidArgument(field, `${at}: selectors are not supported`);

  if (first === '~') return checkPattern(token.slice(1), token, at, field);
  const scoped = /^%(R|W|RW|WR)~(.*)$/i.exec(token);
  if (scoped) return checkPattern(scoped[2], token, at, field);
  if (first === '&') return checkPattern(token.slice(1), token, at, field);

  if (first === '+' || first === '-') {
    const grant = first === '+';
    const name = token.slice(1);
    if (name.startsWith('@')) {
      const category = name.slice(1).toLowerCase();
      if (category !== 'all' && !ACL_CATEGORIES.includes(category)) {
        throw invalidArgument(field, `${at} ${describeValue(token)}: unknown category; known: ${ACL_CATEGORIES.join(', ')}`);
      }
      if (grant && UNGRANTABLE_CATEGORIES.has(category)) {
        throw invalidArgument(field, `${at} ${describeValue(token)}: admin, dangerous and all commands cannot be granted to a user`);
      }
      return;
    }
    if (!COMMAND.test(name)) {
      throw invalidArgument(field, `${at} ${describeValue(token)}: not a command name (letters, digits, "_", "-", optionally "|subcommand")`);
    }
    if (grant) {
      const full = name.toLowerCase();
      const base = full.split('|')[0];
      if (DANGEROUS_COMMANDS.has(full) || DANGEROUS_COMMANDS.has(base) || (DANGEROUS_CONTAINERS.has(base) && !full.includes('|'))) {
        throw invalidArgument(field, `${at} ${describeValue(token)}: admin and dangerous commands cannot be granted to a user`);
      }
    }
    return;
  }
  throw invalidArgument(
    field,
    `${at} ${describeValue(token)} is not a rule this service accepts (~keys, %R~keys, %W~keys, &channels, +@category, -@category, +command, -command)`,
  );
}

/** Splits and checks an ACL rule string; returns its tokens. */
export function parseAclRule(rule: string, field: string): string[] {
  if (!/^[\x20-\x7e]*$/.test(rule)) {
    throw invalidArgument(field, 'must contain only printable ASCII characters (no unicode, tabs, line breaks or control characters)');
  }
  if (rule.length > MAX_RULE_LENGTH) throw invalidArgument(field, `must be at most ${MAX_RULE_LENGTH} characters`);
  if (rule.trim() === '') throw invalidArgument(field, 'must not be blank');
  if (rule !== rule.trim() || rule.includes('  ')) throw invalidArgument(field, 'rule tokens must be separated by single spaces');
  const tokens = rule.split(' ');
  if (tokens.length > MAX_RULE_TOKENS) throw invalidArgument(field, `must have at most ${MAX_RULE_TOKENS} tokens`);
  tokens.forEach((t, i) => checkToken(t, i, field));
  return tokens;
}

/** The rule tokens a `permissions` value stands for (a preset, the default, or a checked rule). */
export function permissionTokens(permissions: string | undefined, field: string): string[] {
  const value = permissions || DEFAULT_PERMISSIONS;
  if (typeof value !== 'string') throw invalidArgument(field, 'must be a string');
  // Own keys only: "constructor" or "__proto__" must reach the grammar (and be refused there).
  return Object.hasOwn(PRESETS, value) ? PRESETS[value].split(' ') : parseAclRule(value, field);
}

/** Everything ACL SETUSER gets after the user name, for an account Steward creates. */
export function userAclArgs(permissions: string | undefined, password: string, field: string): string[] {
  // reset first: whatever the server had (nothing, for a new user) does not leak into the result.
  return ['reset', 'on', `>${password}`, ...permissionTokens(permissions, field), ...GUARD_RULES];
}
