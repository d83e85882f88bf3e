// prepare: from an empty instance directory to a secured, running server with
// the requested users, or with the data of a backup (`restore`). Nothing
// before the final marker counts: a retry after any failure stops whatever the
// last attempt started, wipes the data directory and starts over (there is no
// user data before the marker, restored data included: it comes from the backup again).
// With `replicaOf` the server starts as a replica of that source (its first
// sync is Redis's own full copy: no backup), read-only from the first moment,
// with its source's users instead of requested ones.
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { emptyDir, handOverFile, ownedBy, prepareInstanceDirs } from '../sdk/data-dir.js';
import { failedPrecondition, internal, StewardError } from '../sdk/errors.js';
import type { OsUser } from '../sdk/os-user.js';
import { markPrepared, stopIfFailed } from '../sdk/prepared.js';
import type { ReplicationStateFile } from '../sdk/replication-state.js';
import type { AttachReplicaRequest } from '../sdk/replication.js';
import type { PrepareRequest } from '../sdk/types.js';
import { subScope } from '../sdk/backup/progress.js';
import { getAclUser, isEnabled, persistAcl, setAclUser } from './acl.js';
import { renderInitialAcl } from './config.js';
import { info, withSession, type SessionOptions } from './connection.js';
import { saveCredentials, serverOwner, writeConfig } from './replication-config.js';
import { checkAttach, copyUsers } from './replication.js';
import { ensureReplicationAccounts } from './replication-users.js';
import { ADMIN_SECRET, serviceSpec, type RedisPaths } from './paths.js';
import { waitUntilReady } from './readiness.js';
import { checkRestore, restoreSnapshot } from './restore.js';
import { confirmRestoreLoaded } from './restore-check.js';
import { ROOT_OFF_RULES, ROOT_USER } from './root.js';
import { createUsers } from './users.js';
import { ADMIN_USER } from './validation.js';

export interface PrepareDeps {
  ctx: ManagerContext;
  paths: RedisPaths;
  /** Absolute path of redis-server. */
  server: string;
  replication: ReplicationStateFile;
}

/** sun_path holds 108 bytes with its NUL; a longer socket path fails deep inside the server. */
const MAX_SOCKET_PATH = 107;

async function prepareDirectories({ ctx, paths }: PrepareDeps, owner: OsUser | undefined): Promise<void> {
  await prepareInstanceDirs(ctx, owner, 0o750);
  // The server rewrites the ACL file (ACL SAVE: temporary file + rename) but must not touch redis.conf.
  await mkdir(paths.aclDir, { recursive: true });
  await emptyDir(paths.aclDir);
  await ownedBy(paths.aclDir, owner, 0o700);
  await handOverFile(paths.logFile, owner);
}

/** How often prepare looks whether a new replica's first sync has finished. */
const SYNC_POLL_MS = 200;

/** Until the replica's link to its source is up: it has loaded its source's full copy. */
async function firstSync(admin: SessionOptions, source: AttachReplicaRequest, signal: AbortSignal): Promise<void> {
  await withSession(
    admin,
    async (s) => {
      for (;;) {
        if ((await info(s, 'replication')).master_link_status === 'up') return;
        await sleep(SYNC_POLL_MS, undefined, { signal });
      }
    },
    signal,
  ).catch((err: StewardError) => {
    throw new StewardError(err.code, `the first sync from ${source.sourceHost}:${source.sourcePort} did not finish: ${err.message}`);
  });
}

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  const { ctx, paths, server, replication } = deps;
  const { signal } = op;
  const replicaOf = req.replicaOf;
  const replCreds = replicaOf && checkAttach(replicaOf, 'replica_of.');
  if (replicaOf) {
    if (req.users.length) throw failedPrecondition("a Redis replica has its source's users: create users on the primary");
  }
  // A replica's data comes from its source's full copy, which would replace a restored snapshot at once.
  const restore = replicaOf ? undefined : req.restore;
  // A snapshot that cannot be restored is refused before anything is touched.
  if (restore) checkRestore(restore);
  if (Buffer.byteLength(paths.socket) > MAX_SOCKET_PATH) {
    throw failedPrecondition(`the unix socket path ${paths.socket} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter state directory`);
  }
  const spec = serviceSpec(server, paths);
  const owner = await serverOwner(ctx);

  op.progress(5, 'preparing directories');
  await ctx.service.stop(spec, signal); // whatever a failed attempt left running
  await prepareDirectories(deps, owner);

  op.progress(15, 'rendering configuration');
  const settings = {
    bindAddress: req.bindAddress || ctx.bindAddress,
    port: req.port || ctx.port,
    socket: paths.socket,
    dataDir: ctx.dataDir,
    logFile: paths.logFile,
    aclFile: paths.aclFile,
    memoryMb: req.memoryMb || ctx.memoryMb,
  };
  // A new replica starts following its source: it never takes a write of its own.
  if (replCreds) await saveCredentials(ctx, replCreds);
  const state = await replication.update(
    replicaOf
      ? {
          role: 'replica',
          source: { host: replicaOf.sourceHost, port: replicaOf.sourcePort, name: replicaOf.name },
          synchronous: false,
          fenced: false,
          failoverGuard: false,
        }
      : { role: 'standalone', source: undefined, synchronous: false, fenced: false, failoverGuard: false },
  );
  await writeConfig(ctx, paths, settings, state);
  const adminPassword = await ctx.secrets.getOrCreate(ADMIN_SECRET);
  // The server never runs without its admin account or with an open default user.
  await writeFileAtomic(paths.aclFile, renderInitialAcl(adminPassword), { mode: 0o600, uid: owner?.uid, gid: owner?.gid });

  // Before the first start: the server then loads the backup with its normal configuration (restore-aof.ts).
  // The ACL file above stays the instance's own; an RDB holds no users.
  const restored = restore ? await restoreSnapshot(ctx, restore, subScope(op, 16, 39)) : undefined;

  await stopIfFailed(ctx, spec, async () => {
    op.progress(40, 'starting server');
    await ctx.service.start(spec, signal);
    op.progress(55, 'waiting for the server to accept connections');
    const admin: SessionOptions = { socket: paths.socket, user: ADMIN_USER, password: adminPassword };
    await waitUntilReady(admin, { service: ctx.service, spec, logs: [paths.logFile, paths.consoleLog] }, signal);
    if (restored) {
      op.progress(65, `confirming the server loaded backup ${restored.backupId}`);
      await withSession(admin, (s) => confirmRestoreLoaded(s, restored), signal);
    }

    op.progress(70, 'securing the installation');
    await withSession(
      admin,
      async (s) => {
        // The ACL file already says so; saying it again leaves no doubt whatever that file held.
        await setAclUser(s, ROOT_USER, ROOT_OFF_RULES, 'root');
        const root = await getAclUser(s, ROOT_USER);
        if (!root || isEnabled(root)) throw internal('the default user is still enabled after being turned off');
        await persistAcl(s);
      },
      signal,
    );

    if (replicaOf && replCreds) {
      const source = { host: replicaOf.sourceHost, port: replicaOf.sourcePort };
      op.progress(75, `copying the users of ${source.host}:${source.port}`);
      await withSession(admin, (s) => ensureReplicationAccounts(s, replCreds), signal);
      // Also proves the source answers and knows the replication password before the wait below.
      await copyUsers({ session: (fn, sig) => withSession(admin, fn, sig) }, source, replCreds, signal);
      op.progress(85, `waiting for the first sync from ${source.host}:${source.port}`);
      await firstSync(admin, replicaOf, signal);
    } else {
      op.progress(85, 'creating users');
      await withSession(admin, (s) => createUsers(s, req.users ?? []), signal);
    }

    const facts = restored ? { restoredFrom: restored.backupId } : replicaOf ? { replicaOf: `${replicaOf.sourceHost}:${replicaOf.sourcePort}` } : {};
    await markPrepared(paths.preparedMarker, facts);
  });
  op.progress(100, 'prepared');
}
