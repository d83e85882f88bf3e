// prepare: from an empty instance directory to a secured, running server with
// the requested databases and users, or with the data of a backup chain
// (`restore`, in place of initdb). With `replicaOf` as well, the backup is of
// the source and the instance starts as its standby (replica-seed.ts): never
// recovered to its end, never promoted, and nothing written (no admin
// password, no securing, no users: everything comes from the source, which a
// standby cannot diverge from). Nothing before the final marker counts: a
// retry after any failure stops whatever the last attempt started, wipes the
// data directory and the WAL archive and starts over (there is no user data
// before the marker).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagerContext, OperationScope } from '../sdk/contract.js';
import { writeFileAtomic } from '../sdk/config-file.js';
import { ownedBy, prepareInstanceDirs } from '../sdk/data-dir.js';
import { subScope } from '../sdk/backup/progress.js';
import { issueServerCertificate } from '../sdk/tls.js';
import { isRoot, lookupOsUser, type OsUser } from '../sdk/os-user.js';
import { markPrepared, stopIfFailed } from '../sdk/prepared.js';
import type { PrepareRequest } from '../sdk/types.js';
import { failedPrecondition } from '../sdk/errors.js';
import { registerSecret } from '../sdk/redact.js';
import type { ReplicationState, ReplicationStateFile } from '../sdk/replication-state.js';
import { groupConfFile, renderPostgresqlConf } from './config.js';
import { sessionsWith, withSession, type SessionOptions } from './connection.js';
import { createDatabases } from './databases.js';
import { writeGroupConf } from './group-config.js';
import { seedReplica } from './replica-seed.js';
import { writeRoleFiles, writeStandbySignal } from './replication-config.js';
import type { PgReplicationFacts, PgReplicationFactsFile } from './replication-facts.js';
import { bin, findInstallation, type Installation } from './installation.js';
import { ADMIN_SECRET, OS_USER, serviceSpec, type PgPaths } from './paths.js';
import { waitUntilReady } from './readiness.js';
import { createAdminOffline, secureInstallation, toolEnv } from './secure.js';
import { checkRestoreChain, restoreChain } from './restore.js';
import { readSettings, writeSettings, type InstanceSettings } from './settings.js';
import { createUsers } from './users.js';
import { ADMIN_USER, ROOT_USER } from './validation.js';
import { archiveCommand, resetWalArchive, walArchiveDir } from './wal-archive.js';

export interface PrepareDeps {
  ctx: ManagerContext;
  paths: PgPaths;
  replication: ReplicationStateFile;
  facts: PgReplicationFactsFile;
  /** The configuration group's values (recorded before prepare runs): the server's first start has them. */
  configuration: Record<string, string>;
}

async function prepareDirectories({ ctx, paths }: PrepareDeps, owner: OsUser | undefined): Promise<void> {
  // PostgreSQL refuses a data directory anyone but its owner can read.
  await prepareInstanceDirs(ctx, owner, 0o700);
  // The log directory may be the agent's: the server gets a directory of its own inside it.
  await mkdir(paths.serverLogDir, { recursive: true });
  await ownedBy(paths.serverLogDir, owner, 0o750);
  await resetWalArchive(walArchiveDir(ctx), owner);
}

/**
 * postgresql.conf from the saved settings: prepare writes it first, and every
 * later render (a resize, a configuration apply) writes it again from what is
 * recorded then, the memory size and the certificate files included, so that
 * nothing rendered at prepare outlives a change of them.
 */
export async function writeServerConf({ ctx, paths }: Pick<PrepareDeps, 'ctx' | 'paths'>, settings: InstanceSettings): Promise<void> {
  const conf = renderPostgresqlConf({
    dataDir: ctx.dataDir,
    hbaFile: paths.hbaFile,
    identFile: paths.identFile,
    port: settings.port,
    bindAddress: settings.bindAddress,
    socketDir: paths.socketDir,
    logDir: paths.serverLogDir,
    memoryMb: settings.memoryMb,
    tls: settings.tls ?? undefined,
    archiveCommand: archiveCommand(walArchiveDir(ctx)),
    groupConf: groupConfFile(ctx.configDir),
    replicationConf: paths.replicationConf,
  });
  await writeFileAtomic(paths.configFile, conf, { mode: 0o644 });
}

async function renderConfig(
  deps: PrepareDeps,
  settings: InstanceSettings,
  owner: OsUser | undefined,
  role: { state: ReplicationState; facts: PgReplicationFacts; password?: string },
): Promise<void> {
  const { ctx, paths, configuration } = deps;
  await writeServerConf(deps, settings);
  await writeGroupConf({ configFile: paths.configFile, groupConf: groupConfFile(ctx.configDir) }, configuration);
  // replication.conf, pg_hba.conf and pg_ident.conf from the role this instance starts with.
  await writeRoleFiles({ paths, serverUser: owner }, role.state, role.facts, { password: role.password, fresh: true });
}

async function initdb({ ctx }: PrepareDeps, inst: Installation, owner: OsUser | undefined, signal: AbortSignal): Promise<void> {
  await ctx.runner(
    bin(inst, 'initdb'),
    [
      `--pgdata=${ctx.dataDir}`,
      `--username=${ROOT_USER}`,
      '--encoding=UTF8',
      // C.UTF-8: code-point order, independent of the host's locale packages; databases may ask for another.
      '--locale=C.UTF-8',
      // Page checksums: corruption is reported instead of served.
      '--data-checksums',
      // Not a trust line even for a moment; the rendered pg_hba.conf replaces this file anyway.
      '--auth=reject',
    ],
    { signal, timeoutMs: 10 * 60_000, cwd: '/', uid: owner?.uid, gid: owner?.gid, env: toolEnv() },
  );
  // The configuration lives in configDir; copies here would only mislead whoever edits them.
  for (const f of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) await rm(join(ctx.dataDir, f), { force: true });
}

/** Stops what a failed attempt may have left running, with whichever binaries it used. */
async function stopLeftovers({ ctx, paths }: PrepareDeps, current: Installation, signal: AbortSignal): Promise<void> {
  const previous = await readSettings(paths).catch(() => undefined);
  const before = previous && previous.major !== current.major ? await findInstallation(previous.major).catch(() => undefined) : undefined;
  for (const inst of [before, current]) if (inst) await ctx.service.stop(serviceSpec(inst, paths), signal);
}

/** Where a new instance stands: a standby of `replicaOf`, or on its own (whatever an earlier life of the directory was). */
function startingRole(req: PrepareRequest): { state: ReplicationState; facts: PgReplicationFacts; password?: string } {
  const source = req.replicaOf;
  if (!source) {
    return { state: { role: 'standalone', synchronous: false, failoverGuard: false, fenced: false }, facts: { user: '', served: [], slots: [] } };
  }
  const creds = source.credentials!;
  registerSecret(creds.password);
  return {
    state: {
      role: 'replica',
      source: { host: source.sourceHost, port: source.sourcePort, name: source.name },
      synchronous: source.synchronous,
      failoverGuard: false,
      fenced: false,
    },
    facts: { user: creds.user, served: [], slots: [] },
    password: creds.password,
  };
}

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  const { ctx, paths } = deps;
  const { signal } = op;
  if (req.replicaOf && !req.restore) throw failedPrecondition('a PostgreSQL replica starts from a backup of its source: restore is required');
  // A chain that cannot replay is refused before anything is touched.
  if (req.restore) checkRestoreChain(req.restore);
  const inst = await findInstallation();
  const spec = serviceSpec(inst, paths);
  const owner = isRoot() ? await lookupOsUser(OS_USER, ctx.runner) : undefined;

  op.progress(5, 'preparing directories');
  await stopLeftovers(deps, inst, signal);
  await rm(paths.settingsFile, { force: true });
  await prepareDirectories(deps, owner);

  op.progress(10, 'rendering configuration');
  const settings: InstanceSettings = {
    major: inst.major,
    port: req.port || ctx.port,
    bindAddress: req.bindAddress || ctx.bindAddress,
    memoryMb: req.memoryMb || ctx.memoryMb,
    // Issued once here; every later render of postgresql.conf reuses these files.
    tls: (await issueServerCertificate(ctx, owner)) ?? null,
  };
  const role = startingRole(req);
  // Remembered first: the role files below are rendered from it, and every later call reads it.
  await deps.replication.update({ source: undefined, ...role.state });
  await deps.facts.update(role.facts);
  await renderConfig(deps, settings, owner, role);
  await writeSettings(paths, settings);

  // A replica's admin role is its source's and is reached by peer authentication (hba.ts); the secret is kept all the same.
  const adminPassword = await ctx.secrets.getOrCreate(ADMIN_SECRET);
  if (req.restore && req.replicaOf) {
    op.progress(12, `copying ${req.replicaOf.sourceHost}:${req.replicaOf.sourcePort} from its backup`);
    await seedReplica({ ctx, inst, owner }, req.restore, subScope(op, 12, 40));
    await writeStandbySignal(ctx.dataDir, owner);
  } else if (req.restore) {
    op.progress(12, 'restoring from backup');
    await restoreChain(deps, req.restore, subScope(op, 12, 40));
    // The restored admin role has the source instance's password; this instance's replaces it.
    op.progress(42, "setting this instance's admin password");
    await createAdminOffline(ctx, inst, paths, adminPassword, owner, signal, { replace: true });
  } else {
    op.progress(20, `initialising data directory (PostgreSQL ${inst.major})`);
    await initdb(deps, inst, owner, signal);
    op.progress(35, 'creating the admin role');
    await createAdminOffline(ctx, inst, paths, adminPassword, owner, signal);
  }

  await stopIfFailed(ctx, spec, async () => {
    op.progress(45, 'starting server');
    await ctx.service.start(spec, signal);
    op.progress(55, 'waiting for the server to accept connections');
    const admin: SessionOptions = { host: paths.socketDir, port: settings.port, user: ADMIN_USER, password: adminPassword };
    await waitUntilReady(admin, { service: ctx.service, spec, paths }, signal);

    if (req.replicaOf) {
      // Streaming from the source through its slot from here on; a standby takes no write of its own.
      op.progress(90, `following ${req.replicaOf.sourceHost}:${req.replicaOf.sourcePort}`);
    } else {
      op.progress(65, 'securing the installation');
      await withSession(admin, secureInstallation, signal);

      op.progress(80, 'creating databases');
      await withSession(admin, (s) => createDatabases(s, req.databases ?? []), signal);
      op.progress(90, 'creating users');
      await createUsers(
        sessionsWith(async () => admin, signal),
        req.users ?? [],
      );
    }

    await markPrepared(paths.preparedMarker, { major: inst.major });
  });
  op.progress(100, 'prepared');
}
