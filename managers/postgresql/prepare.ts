// prepare: from an empty instance directory to a secured, running server with
// the requested databases and users, or with the data of a backup chain
// (`restore`, in place of initdb). Nothing before the final marker counts: a
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
import { renderPostgresqlConf } from './config.js';
import { sessionsWith, withSession, type SessionOptions } from './connection.js';
import { createDatabases } from './databases.js';
import { renderHba, writeHba } from './hba.js';
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
}

async function prepareDirectories({ ctx, paths }: PrepareDeps, owner: OsUser | undefined): Promise<void> {
  // PostgreSQL refuses a data directory anyone but its owner can read.
  await prepareInstanceDirs(ctx, owner, 0o700);
  // The log directory may be the agent's: the server gets a directory of its own inside it.
  await mkdir(paths.serverLogDir, { recursive: true });
  await ownedBy(paths.serverLogDir, owner, 0o750);
  await resetWalArchive(walArchiveDir(ctx), owner);
}

async function renderConfig({ ctx, paths }: PrepareDeps, settings: InstanceSettings, owner: OsUser | undefined): Promise<void> {
  const conf = renderPostgresqlConf({
    dataDir: ctx.dataDir,
    hbaFile: paths.hbaFile,
    identFile: paths.identFile,
    port: settings.port,
    bindAddress: settings.bindAddress,
    socketDir: paths.socketDir,
    logDir: paths.serverLogDir,
    memoryMb: settings.memoryMb,
    tls: await issueServerCertificate(ctx, owner),
    archiveCommand: archiveCommand(walArchiveDir(ctx)),
  });
  await writeFileAtomic(paths.configFile, conf, { mode: 0o644 });
  const fileOwner = owner ? { uid: process.getuid?.(), gid: owner.gid } : {};
  await writeHba(paths.hbaFile, renderHba({ rootOverTcp: false, adminReplication: true }), fileOwner);
  await writeFileAtomic(paths.identFile, '# Rendered by the Steward agent: no user name maps.\n', { mode: 0o640, ...fileOwner });
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

export async function prepare(deps: PrepareDeps, req: PrepareRequest, op: OperationScope): Promise<void> {
  const { ctx, paths } = deps;
  const { signal } = op;
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
  };
  await renderConfig(deps, settings, owner);
  await writeSettings(paths, settings);

  const adminPassword = await ctx.secrets.getOrCreate(ADMIN_SECRET);
  if (req.restore) {
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

    op.progress(65, 'securing the installation');
    await withSession(admin, secureInstallation, signal);

    op.progress(80, 'creating databases');
    await withSession(admin, (s) => createDatabases(s, req.databases ?? []), signal);
    op.progress(90, 'creating users');
    await createUsers(
      sessionsWith(async () => admin, signal),
      req.users ?? [],
    );

    await markPrepared(paths.preparedMarker, { major: inst.major });
  });
  op.progress(100, 'prepared');
}
