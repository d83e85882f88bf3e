// The Redis manager's input rules and its ACL rule grammar, without a server.
// The datastore test checks the same rules against a live server; these pin
// down every branch of the grammar and the exact arguments sent to ACL SETUSER.
import { describe, expect, it } from 'vitest';
import { refusal, thrown } from '../fixtures/datastore-assertions.js';
import type { User } from '../../managers/sdk/types.js';
import {
  ACL_CATEGORIES,
  DANGEROUS_COMMANDS,
  GUARD_RULES,
  MAX_RULE_TOKENS,
  PRESETS,
  parseAclRule,
  permissionTokens,
  userAclArgs,
} from '../../managers/redis/acl-rules.js';
import { confValue, renderInitialAcl, renderRedisConf, tuning } from '../../managers/redis/config.js';
import { parseInfo } from '../../managers/redis/connection.js';
import { describePermissions } from '../../managers/redis/acl.js';
import { pageLimit, pageMarker } from '../../managers/redis/paging.js';
import { redisRules, redisValidator } from '../../managers/redis/validation.js';
import { REDIS_CAPABILITIES, redisIdentity } from '../../managers/redis/identity.js';
import redisAgent from '../../managers/redis/agent.js';
import redisOrchestration from '../../managers/redis/orchestration.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { PrepareRequest as PrepareCheck } from '../../managers/sdk/types.js';

/** A prepare request checked as the agent and the controller check it: through the operations table. */
const checkPrepareRequest = (r: PrepareCheck) => checkCommand(payload('prepare', r), redisIdentity);

const user = (over: Partial<User> = {}): User => ({
  name: 'alice',
  host: '',
  password: 'alice-pw-1',
  access: [],
  permissions: 'read-only',
  ...over,
});

describe('identity', () => {
  it('declares users, root, full backups, replication and configuration groups, not databases, on both sides', () => {
    expect(REDIS_CAPABILITIES).toEqual(['users', 'root', 'backup', 'replication', 'configuration', 'logs', 'resize']);
    for (const m of [redisAgent, redisOrchestration]) {
      expect(m).toMatchObject({
        name: 'redis',
        displayName: 'Redis',
        defaultPort: 6379,
        capabilities: ['users', 'root', 'backup', 'replication', 'configuration', 'logs', 'resize'],
      });
      expect(m.validator).toBe(redisIdentity.validator);
    }
    expect(typeof redisAgent.create).toBe('function');
    expect(redisOrchestration.rootDescription).toMatch(/default/);
  });
});

describe('user names', () => {
  it.each(['a', 'alice', 'app_1', 'svc.cache', 'a-b', '_x', '9lives', 'x'.repeat(64)])('accepts %j', (name) => {
    expect(() => redisValidator.userRef({ name, host: '' }, 'user')).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(65)],
    ['space', 'a b'],
    ['leading dot', '.a'],
    ['leading dash', '-a'],
    ['quote', "a'b"],
    ['greater-than (password syntax)', 'a>b'],
    ['tilde (key syntax)', '~a'],
    ['unicode', 'ålice'],
    ['lookalike', 'аlice'], // Cyrillic а
    ['NUL', 'a\0b'],
    ['newline', 'a\nFLUSHALL'],
    ['reserved default', 'default'],
    ['reserved any case', 'DeFault'],
    ['reserved admin', 'steward_admin'],
  ])('refuses %s', (_what, name) => {
    const err = refusal(() => redisValidator.userRef({ name, host: '' }, 'user'));
    expect(err.field).toBe('user.name');
  });

  it('refuses a non-string name and a missing reference', () => {
    expect(refusal(() => redisValidator.userRef({ name: 42 as unknown as string, host: '' }, 'user')).field).toBe('user.name');
    expect(refusal(() => redisValidator.userRef(undefined as unknown as { name: string; host: string }, 'user')).field).toBe('user');
  });

  it('refuses a host: Redis users have none', () => {
    expect(refusal(() => redisValidator.userRef({ name: 'alice', host: '%' }, 'user')).field).toBe('user.host');
    expect(refusal(() => redisRules.user(user({ host: 'localhost' }), 'users[0]')).field).toBe('users[0].host');
  });
});

describe('passwords', () => {
  it.each(['12345678', 'x'.repeat(256), `p@ss"w'ord\\!`, 'n3w"pw\\x\''])('accepts %j', (pw) => {
    expect(() => redisValidator.password(pw, 'password')).not.toThrow();
  });

  it.each([
    ['empty', ''],
    ['too short', '1234567'],
    ['too long', 'x'.repeat(257)],
    ['space', 'pass word'],
    ['tab', 'pass\tword'],
    ['newline', 'pass\nword'],
    ['NUL', 'pass\0word'],
    ['unicode', 'pässword'],
  ])('refuses %s without echoing it', (_what, pw) => {
    const err = refusal(() => redisValidator.password(pw, 'password'));
    expect(err.field).toBe('password');
    if (pw.length >= 4) expect(err.message).not.toContain(pw);
  });
});

describe('users', () => {
  it('accepts the presets, a rule, and an empty permission (the read-write default)', () => {
    for (const permissions of ['read-only', 'read-write', '~app:* +@read', '']) {
      expect(() => redisRules.user(user({ permissions }), 'users[0]')).not.toThrow();
    }
  });

  it('refuses database access and names the field', () => {
    expect(refusal(() => redisRules.user(user({ access: [{ database: '0' }] }), 'users[0]')).field).toBe('users[0].access');
  });

  it('refuses a bad permission with the permissions field', () => {
    expect(refusal(() => redisRules.user(user({ permissions: '+@all' }), 'users[2]')).field).toBe('users[2].permissions');
    expect(refusal(() => redisRules.user(user({ permissions: 7 as unknown as string }), 'users[0]')).field).toBe('users[0].permissions');
  });

  it('refuses duplicates and a non-list', () => {
    expect(refusal(() => redisValidator.users([user(), user()], 'users')).field).toBe('users[1]');
    expect(refusal(() => redisValidator.users('alice' as unknown as User[], 'users')).field).toBe('users');
  });

  it('has no databases at all', () => {
    expect(refusal(() => redisValidator.databaseName('0', 'name')).field).toBe('name');
    expect(refusal(() => redisRules.database({ name: 'app', characterSet: '', collation: '', ctype: '', replication: {} }, 'databases[0]')).field).toBe(
      'databases[0]',
    );
  });
});

describe('ACL rule grammar', () => {
  it.each([
    '~*',
    '~app:*',
    '~user:{42}:*',
    '~a?c ~[ab]* ~x[^y]',
    '%R~pub:* %W~inbox:* %RW~both:*',
    '%r~lower',
    '&news:* &alerts',
    '-@all +@read +@write',
    '+@READ',
    '+@keyspace +@slow +@fast +@scripting +@pubsub +@blocking +@connection +@transaction',
    '-@admin -@dangerous -@all',
    '+get +set -del',
    '+GET',
    '+client|setname +client|id +config|help +acl|whoami',
    '+select|0',
    '+georadius_ro +restore-asking-not-a-real-one',
    '-flushall -config -keys',
    '~mail@example.com:* ~a,b ~a+b ~a=b ~$x ~#tag ~!x ~/path',
  ])('accepts %j', (rule) => {
    expect(parseAclRule(rule, 'p')).toEqual(rule.split(' '));
  });

  it('accepts every known category, granting all but admin, dangerous and all', () => {
    for (const c of ACL_CATEGORIES) {
      expect(() => parseAclRule(`-@${c}`, 'p')).not.toThrow();
      if (c === 'admin' || c === 'dangerous') expect(refusal(() => parseAclRule(`+@${c}`, 'p')).message).toMatch(/cannot be granted/);
      else expect(() => parseAclRule(`+@${c}`, 'p')).not.toThrow();
    }
  });

  it('refuses granting every admin or dangerous command, and the containers holding them', () => {
    for (const c of DANGEROUS_COMMANDS) {
      expect(refusal(() => parseAclRule(`~* +${c}`, 'p')).message, c).toMatch(/cannot be granted/);
      expect(refusal(() => parseAclRule(`+${c.toUpperCase()}`, 'p')).message, c).toMatch(/cannot be granted/);
      expect(() => parseAclRule(`-${c}`, 'p')).not.toThrow();
    }
    for (const c of ['acl', 'client', 'cluster', 'config', 'latency', 'module', 'slowlog', 'flushall|async', 'debug|sleep']) {
      expect(refusal(() => parseAclRule(`+${c}`, 'p')).message, c).toMatch(/cannot be granted/);
    }
  });

  it.each([
    ['+@all', /cannot be granted/],
    ['~* +@ALL', /cannot be granted/],
    ['allcommands', /every command/],
    ['nopass', /needs a password/],
    ['~* >secret-pw', /password field/],
    ['~* <secret-pw', /password field/],
    ['#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8', /hashes/],
    ['!5e88', /hashes/],
    ['reset', /reset/],
    ['~* resetpass', /password field/],
    ['resetkeys', /reset/],
    ['resetchannels', /reset/],
    ['on', /enabled by Steward/],
    ['OFF', /enabled by Steward/],
    ['allkeys', /~\*/],
    ['allchannels', /&\*/],
    ['nocommands', /-@all/],
    ['skip-sanitize-payload', /sanitisation/],
    ['sanitize-payload', /sanitisation/],
    ['clearselectors', /selectors/],
    ['(~* +@read)', /selectors/],
    ['~* +@nosuch', /unknown category/],
    ['+@', /unknown category/],
    ['~', /pattern/],
    ['%R~', /pattern/],
    ['&', /pattern/],
    ['~a"b', /pattern/],
    ["~a'b", /pattern/],
    ['~a\\b', /pattern/],
    ['~a)', /pattern/],
    ['~a%b', /pattern/],
    [`~${'k'.repeat(257)}`, /pattern/],
    ['%X~foo', /not a rule/],
    ['++get', /not a command name/],
    ['+get|', /not a command name/],
    ['+|get', /not a command name/],
    ['+get;flushall', /not a command name/],
    ['+get|a|b', /not a command name/],
    ['+1get', /not a command name/],
    ['read', /not a rule/],
    ['@read', /not a rule/],
    ['~* +@read,+@all', /unknown category/],
    ['constructor', /not a rule/],
    ['__proto__', /not a rule/],
    ['toString', /not a rule/],
    ['hasOwnProperty', /not a rule/],
  ])('refuses %j', (rule, message) => {
    const err = refusal(() => parseAclRule(rule, 'users[0].permissions'));
    expect(err.field).toBe('users[0].permissions');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('secret-pw');
  });

  it.each([
    ['blank', '   '],
    ['double space', '~*  +@read'],
    ['leading space', ' ~*'],
    ['trailing space', '~* '],
    ['tab', '~*\t+@read'],
    ['newline', '~*\n+@all'],
    ['CRLF', '~* +@read\r\n+@all'],
    ['NUL', '~*\0+@all'],
    ['unicode', '~* +@réad'],
    ['unicode in a pattern', '~ünïcode'],
    ['fullwidth plus', '~* ＋@all'],
    ['too long', `~${'k'.repeat(1100)}`],
  ])('refuses %s', (_what, rule) => {
    refusal(() => parseAclRule(rule, 'p'));
  });

  it('limits the number of tokens', () => {
    const tokens = (n: number) => Array.from({ length: n }, (_, i) => `~k${i}`).join(' ');
    expect(parseAclRule(tokens(MAX_RULE_TOKENS), 'p')).toHaveLength(MAX_RULE_TOKENS);
    expect(refusal(() => parseAclRule(tokens(MAX_RULE_TOKENS + 1), 'p')).message).toMatch(/at most/);
  });

  it('names the offending token', () => {
    expect(refusal(() => parseAclRule('~* +@read +@admin', 'p')).message).toMatch(/^p: token 3 "\+@admin"/);
  });
});

describe('what ACL SETUSER is sent', () => {
  it('starts from nothing, sets the account on with its password, and always ends with the guard', () => {
    expect(userAclArgs('~app:* +@read', 'pw-12345', 'p')).toEqual(['reset', 'on', '>pw-12345', '~app:*', '+@read', ...GUARD_RULES]);
    expect(GUARD_RULES).toEqual(['-@admin', '-@dangerous']);
  });

  it('expands the presets and defaults an empty permission to read-write', () => {
    expect(permissionTokens('read-only', 'p')).toEqual(PRESETS['read-only'].split(' '));
    expect(permissionTokens('read-write', 'p')).toEqual(PRESETS['read-write'].split(' '));
    expect(permissionTokens('', 'p')).toEqual(PRESETS['read-write'].split(' '));
    expect(PRESETS['read-only']).not.toMatch(/@write|&/);
    expect(refusal(() => permissionTokens('READ-ONLY', 'p')).message).toMatch(/not a rule/);
    for (const inherited of ['constructor', '__proto__', 'toString']) refusal(() => permissionTokens(inherited, 'p'));
  });

  it('every preset passes its own grammar', () => {
    for (const rule of Object.values(PRESETS)) expect(parseAclRule(rule, 'p')).toEqual(rule.split(' '));
  });
});

describe('describing a user', () => {
  it('joins keys, channels, commands and selectors the way Redis reports them', () => {
    const base = { name: 'u', flags: ['on'], selectors: [] as string[] };
    expect(describePermissions({ ...base, keys: '~*', channels: '', commands: '-@all +@read' })).toBe('~* -@all +@read');
    expect(describePermissions({ ...base, keys: '%R~a*', channels: '&n', commands: '+get', selectors: ['~b* +set'] })).toBe('%R~a* &n +get (~b* +set)');
    expect(describePermissions({ ...base, keys: '', channels: '', commands: '-@all' })).toBe('-@all');
  });
});

describe('prepare requests', () => {
  const base = {
    memoryMb: 0,
    port: 0,
    bindAddress: '',
    cluster: undefined,
    restore: undefined,
    replicaOf: undefined,
    configuration: {},
    databases: [],
    users: [],
  };
  it('accepts users and refuses databases, cluster membership (capabilities Redis lacks) and bad users', () => {
    expect(() => checkPrepareRequest({ ...base, users: [user()] })).not.toThrow();
    const databases = thrown(() => checkPrepareRequest({ ...base, databases: [{ name: 'a', characterSet: '', collation: '', ctype: '', replication: {} }] }));
    expect([databases.code, databases.message]).toEqual(['FAILED_PRECONDITION', 'datastore Redis does not support databases']);
    const cluster = thrown(() => checkPrepareRequest({ ...base, cluster: {} as never }));
    expect([cluster.code, cluster.message]).toEqual(['FAILED_PRECONDITION', 'datastore Redis does not support clusters']);
    expect(refusal(() => checkPrepareRequest({ ...base, users: [user({ permissions: 'nopass' })] })).field).toBe('users[0].permissions');
  });
});

describe('paging', () => {
  it('defaults, caps and checks markers', () => {
    expect(pageLimit({ limit: 0, marker: '' })).toBe(100);
    expect(pageLimit({ limit: 1000, marker: '' })).toBe(1000);
    expect(refusal(() => pageLimit({ limit: 1001, marker: '' })).field).toBe('page.limit');
    expect(pageMarker({ limit: 0, marker: "' OR 1" })).toBe("' OR 1");
    expect(refusal(() => pageMarker({ limit: 0, marker: 'a\nb' })).field).toBe('page.marker');
  });
});

describe('configuration', () => {
  const settings = {
    bindAddress: '0.0.0.0',
    port: 6380,
    socket: '/var/lib/steward/run/redis.sock',
    dataDir: '/var/lib/steward/data',
    logFile: '/var/log/steward/redis.log',
    aclFile: '/var/lib/steward/config/acl/users.acl',
    memoryMb: 1024,
  };

  it('renders the directives the manager depends on', () => {
    const lines = renderRedisConf(settings).split('\n');
    for (const line of [
      'bind 0.0.0.0',
      'port 6380',
      'protected-mode yes',
      'unixsocket /var/lib/steward/run/redis.sock',
      'unixsocketperm 700',
      'dir /var/lib/steward/data',
      'daemonize no',
      'supervised no',
      'set-proc-title no',
      'logfile /var/log/steward/redis.log',
      'aclfile /var/lib/steward/config/acl/users.acl',
      'save 3600 1 300 100 60 10000',
      'appendonly yes',
      'appendfsync everysec',
      'maxmemory 768mb',
      'maxmemory-policy noeviction',
      'enable-debug-command no',
      'enable-module-command no',
      'enable-protected-configs no',
      'shutdown-on-sigterm force',
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines.filter((l) => /^(rename-command|requirepass|user) /.test(l))).toEqual([]);
  });

  it('derives maxmemory from memory with a floor', () => {
    expect(tuning(128)).toContainEqual(['maxmemory', '96mb']);
    expect(tuning(8)).toContainEqual(['maxmemory', '16mb']);
  });

  it('quotes what needs quoting and refuses line breaks', () => {
    expect(confValue('/plain/path')).toBe('/plain/path');
    expect(confValue('/with space/"q"\\')).toBe('"/with space/\\"q\\"\\\\"');
    expect(() => confValue('/a\nrequirepass x')).toThrow(/line break/);
  });

  it('starts with the default user off and the admin known by hash only', () => {
    const acl = renderInitialAcl('admin-password-123');
    expect(acl).toMatch(/^user default reset off$/m);
    expect(acl).toMatch(/^user steward_admin reset on #[0-9a-f]{64} ~\* &\* \+@all$/m);
    expect(acl).not.toContain('admin-password-123');
  });
});

describe('INFO parsing', () => {
  it('reads key:value lines and skips section headers', () => {
    expect(parseInfo('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n# Other\r\nx:a:b\r\n')).toEqual({
      role: 'master',
      connected_slaves: '0',
      x: 'a:b',
    });
  });
});
