// The Redis backup strategy's own parts without a Redis server: the SYNC
// client against a scripted server on a unix socket (what it sends, what it
// passes on, how it fails), the redis-check-rdb report parser, the restore
// request rules and the AOF layout a restore writes.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupType, type BackupArtifact, type RestoreBackupCommand } from '../../proto/gen/steward/v1/backups.js';
import { AOF_DIR, AOF_FILE, renderRedisConf } from '../../managers/redis/config.js';
import { REDIS_CAPABILITIES, redisIdentity } from '../../managers/redis/identity.js';
import { checkError, checkRdbTool, parseCheckSummary } from '../../managers/redis/rdb-check.js';
import { encodeCommand, syncRdb } from '../../managers/redis/rdb-sync.js';
import { aofLayout, baseOnlyManifest } from '../../managers/redis/restore-aof.js';
import { checkRestore } from '../../managers/redis/restore.js';
import { confirmRestoreLoaded } from '../../managers/redis/restore-check.js';
import { failure, thrown } from '../fixtures/datastore-assertions.js';
import { prepareRequest } from '../fixtures/datastore-suite.js';
import { checkCommand } from '../../managers/sdk/operations/commands.js';
import { payload } from '../../managers/sdk/operations/payload.js';
import type { PrepareRequest } from '../../managers/sdk/types.js';

const PASSWORD = 'admin-secret-pw-42';
const RDB = Buffer.concat([Buffer.from('REDIS0010'), Buffer.alloc(200_000, 7), Buffer.from([0xff, 1, 2, 3, 4, 5, 6, 7, 8])]);

/** What a scripted server does with one connection; it sees each command as the parsed argument list. */
type Script = (sock: Socket, commands: AsyncIterator<string[]>) => Promise<void>;

/** Parses RESP arrays of bulk strings (all the client ever sends). */
async function* commandsOf(sock: Socket): AsyncGenerator<string[]> {
  let buf = Buffer.alloc(0);
  for await (const chunk of sock) {
    buf = Buffer.concat([buf, chunk as Buffer]);
    for (;;) {
      const text = buf.toString('latin1');
      const m = /^\*(\d+)\r\n/.exec(text);
      if (!m) break;
      let at = m[0].length;
      const args: string[] = [];
      for (let i = 0; i < Number(m[1]); i++) {
        const h = /^\$(\d+)\r\n/.exec(text.slice(at));
        if (!h || text.length < at + h[0].length + Number(h[1]) + 2) break;
        args.push(text.slice(at + h[0].length, at + h[0].length + Number(h[1])));
        at += h[0].length + Number(h[1]) + 2;
      }
      if (args.length < Number(m[1])) break;
      buf = buf.subarray(at);
      yield args;
    }
  }
}

describe('syncRdb (SYNC over the unix socket)', () => {
  let dir: string;
  let server: Server;
  let script: Script;
  let socket: string;
  const seen: string[][] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stw-rdbsync-'));
    socket = join(dir, 's.sock');
    server = createServer((sock) => {
      sock.on('error', () => undefined);
      const it = commandsOf(sock);
      const recorded: AsyncIterator<string[]> = {
        next: async () => {
          const r = await it.next();
          if (!r.done) seen.push(r.value);
          return r;
        },
      };
      script(sock, recorded).catch(() => sock.destroy());
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const okHandshake = async (sock: Socket, cmds: AsyncIterator<string[]>) => {
    await cmds.next();
    sock.write('+OK\r\n');
    await cmds.next();
    sock.write('+OK\r\n');
    await cmds.next();
  };

  const run = (o: { signal?: AbortSignal; idleMs?: number; lengths?: number[] } = {}) => {
    const s = syncRdb({
      socket,
      user: 'steward_admin',
      password: PASSWORD,
      signal: o.signal ?? AbortSignal.timeout(10_000),
      idleMs: o.idleMs,
      onLength: (n) => o.lengths?.push(n),
    });
    return { s, got: buffer(s.output) };
  };

  it('authenticates, asks for the RDB only, and passes on exactly the announced bytes after the keep-alives', async () => {
    seen.length = 0;
    script = async (sock, cmds) => {
      await okHandshake(sock, cmds);
      sock.write('\n\n\n');
      // In pieces, with bytes after the snapshot that must not be taken as part of it.
      sock.write(`$${RDB.length}\r\n`);
      sock.write(RDB.subarray(0, 5));
      sock.write(Buffer.concat([RDB.subarray(5), Buffer.from('*1\r\n$4\r\nPING\r\n')]));
    };
    const lengths: number[] = [];
    const { s, got } = run({ lengths });
    expect((await got).equals(RDB)).toBe(true);
    expect(lengths).toEqual([RDB.length]);
    expect(s.rdbVersion()).toBe('10');
    expect(seen).toEqual([['AUTH', 'steward_admin', PASSWORD], ['REPLCONF', 'rdb-only', '1'], ['SYNC']]);
  });

  it('reports refused credentials as PERMISSION_DENIED without the password', async () => {
    script = async (sock, cmds) => {
      await cmds.next();
      sock.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    };
    const err = await failure(run().got);
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toMatch(/Redis refused AUTH: WRONGPASS/);
    expect(err.message).not.toContain(PASSWORD);
  });

  it('fails on a refused SYNC, a diskless transfer, or a reply it does not know', async () => {
    for (const [reply, message] of [
      ["-ERR Replica can't SYNC\r\n", /Redis refused SYNC: ERR Replica/],
      [`$EOF:${'a'.repeat(40)}\r\n`, /diskless transfer/],
      ['+FULLRESYNC abc 0\r\n', /unexpected reply to SYNC/],
    ] as const) {
      script = async (sock, cmds) => {
        await okHandshake(sock, cmds);
        sock.write(reply);
      };
      const err = await failure(run().got);
      expect(err.code).toBe('INTERNAL');
      expect(err.message).toMatch(message);
    }
  });

  it('fails, rather than ending, when the transfer is cut short', async () => {
    script = async (sock, cmds) => {
      await okHandshake(sock, cmds);
      sock.end(Buffer.concat([Buffer.from(`$${RDB.length}\r\n`), RDB.subarray(0, 1000)]));
    };
    const err = await failure(run().got);
    expect(err.message).toBe(`Redis closed the connection after 1000 of ${RDB.length} snapshot bytes`);
  });

  it('refuses a payload that is not an RDB file before passing any of it on', async () => {
    script = async (sock, cmds) => {
      await okHandshake(sock, cmds);
      sock.write('$20\r\nHELLO WORLD 12345678');
    };
    const { s, got } = run();
    let passed = 0;
    s.output.on('data', (c: Buffer) => (passed += c.length));
    expect((await failure(got)).message).toMatch(/not an RDB file/);
    expect(passed).toBe(0);
  });

  it('gives up on a server that never starts the transfer, and stops when cancelled', async () => {
    script = async (sock, cmds) => {
      await okHandshake(sock, cmds); // then silence
    };
    expect((await failure(run({ idleMs: 300 }).got)).message).toMatch(/did not start sending a snapshot within/);
    const abort = new AbortController();
    const { got } = run({ signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    expect((await failure(got)).code).toBe('CANCELLED');
  });

  it('reports a missing server as UNAVAILABLE', async () => {
    const s = syncRdb({ socket: join(dir, 'nobody.sock'), user: 'u', password: PASSWORD, signal: AbortSignal.timeout(5_000) });
    expect((await failure(buffer(s.output))).code).toBe('UNAVAILABLE');
  });

  it('encodes commands as bulk strings, whatever they contain', () => {
    expect(encodeCommand(['AUTH', 'u', 'p w\r\n']).toString()).toBe('*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$5\r\np w\r\n\r\n');
  });
});

describe('redis-check-rdb report', () => {
  const ok = '[offset 0] Checking RDB file x\n[offset 182] \\o/ RDB looks OK! \\o/\n[info] 60 keys read\n[info] 10 expires\n[info] 3 already expired\n';
  const bad = [
    '[offset 0] Checking RDB file v11.rdb',
    '--- RDB ERROR DETECTED ---',
    "[offset 9] Can't handle RDB format version 11",
    '[additional info] While doing: start',
    '[info] 0 keys read',
  ].join('\n');

  it('counts the keys', () => {
    expect(parseCheckSummary(ok)).toEqual({ keys: 60, expires: 10, alreadyExpired: 3 });
    expect(parseCheckSummary('no summary')).toBeUndefined();
  });

  it('says what is wrong', () => {
    expect(checkError(bad)).toBe("[offset 9] Can't handle RDB format version 11; [additional info] While doing: start");
  });

  it('is found next to the server', () => {
    expect(checkRdbTool('/usr/bin/redis-server')).toBe('/usr/bin/redis-check-rdb');
  });
});

describe('restore requests', () => {
  const artifact = (over: Partial<BackupArtifact> = {}): BackupArtifact =>
    ({ backupId: 'b1', instanceId: 'i1', datastore: 'redis', type: BackupType.FULL, parentId: '', ...over }) as BackupArtifact;
  const restore = (...artifacts: BackupArtifact[]): RestoreBackupCommand => ({
    storage: undefined,
    chain: artifacts.map((a) => ({ artifact: a, key: { keyRef: '', wrappingKey: Buffer.alloc(32) } })),
  });

  it('takes exactly one full Redis backup', () => {
    expect(checkRestore(restore(artifact())).artifact?.backupId).toBe('b1');
    expect(thrown(() => checkRestore(restore())).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => checkRestore(restore(artifact({ datastore: 'mysql' })))).code).toBe('FAILED_PRECONDITION');
    expect(thrown(() => checkRestore(restore(artifact({ type: BackupType.INCREMENTAL })))).code).toBe('FAILED_PRECONDITION');
    const chain = thrown(() => checkRestore(restore(artifact(), artifact({ backupId: 'b2', type: BackupType.INCREMENTAL, parentId: 'b1' }))));
    expect(chain.code).toBe('FAILED_PRECONDITION');
    expect(chain.message).toMatch(/exactly one backup/);
  });

  it('refuses users together with a restore, naming the field', () => {
    const users = [{ name: 'app', host: '', password: 'app-pw-123', access: [], permissions: '' }];
    const check = (r: PrepareRequest) => checkCommand(payload('prepare', r), redisIdentity);
    expect(() => check(prepareRequest({ restore: restore(artifact()) }))).not.toThrow();
    const err = thrown(() => check(prepareRequest({ users, restore: restore(artifact()) })));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.field).toBe('users');
    expect(thrown(() => checkRestore(restore(artifact({ datastore: 'postgresql' })))).code).toBe('FAILED_PRECONDITION');
  });

  it('declares backups, not incremental ones', () => {
    expect(REDIS_CAPABILITIES).toContain('backup');
    expect(REDIS_CAPABILITIES).not.toContain('backup_incremental');
  });
});

describe('confirming the restored snapshot is what the server loaded', () => {
  const serverSays = (fields: Record<string, string>) => ({
    call: async () =>
      `# Persistence\r\n${Object.entries(fields)
        .map(([k, v]) => `${k}:${v}`)
        .join('\r\n')}\r\n`,
  });
  const restored = { backupId: 'b1', keys: 60, expires: 10, alreadyExpired: 3 };
  const outcome = (fields: Record<string, string>) =>
    confirmRestoreLoaded(serverSays(fields), restored).then(
      () => 'ok',
      (e: Error) => e.message,
    );

  it('counts loaded and expired keys against the file, and wants the AOF on', async () => {
    expect(await outcome({ rdb_last_load_keys_loaded: '57', rdb_last_load_keys_expired: '3', aof_enabled: '1' })).toBe('ok');
    expect(await outcome({ rdb_last_load_keys_loaded: '0', rdb_last_load_keys_expired: '0', aof_enabled: '1' })).toMatch(
      /Redis loaded 0 keys .* but backup b1 holds 60: it did not load the restored snapshot/,
    );
    expect(await outcome({ rdb_last_load_keys_loaded: '60', rdb_last_load_keys_expired: '0', aof_enabled: '0' })).toMatch(/append-only file off/);
    expect(await outcome({ aof_enabled: '1' })).toMatch(/does not report how many keys/);
  });
});

describe('the AOF layout a restore writes', () => {
  it('is the one the configuration names', () => {
    const conf = renderRedisConf({ bindAddress: '127.0.0.1', port: 6379, socket: '/s', dataDir: '/d', logFile: '/l', aclFile: '/a', memoryMb: 64 }).split('\n');
    expect(conf).toContain(`appenddirname ${AOF_DIR}`);
    expect(conf).toContain(`appendfilename ${AOF_FILE}`);
    expect(aofLayout('/d')).toEqual({
      dir: '/d/appendonlydir',
      base: '/d/appendonlydir/appendonly.aof.1.base.rdb',
      manifest: '/d/appendonlydir/appendonly.aof.manifest',
    });
    expect(baseOnlyManifest()).toBe('file appendonly.aof.1.base.rdb seq 1 type b\n');
  });
});
