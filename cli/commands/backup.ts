// stewardctl backup: create (with a progress bar while the agent streams),
// list, show and delete. A backup is made by one agent operation; waiting
// follows that operation, then shows the backup as the controller recorded it.
import type { Command } from 'commander';
import { backupStatusToJSON, backupTypeToJSON, BackupStatus, type Backup } from '../../proto/gen/steward/v1/backups.js';
import { OperationState } from '../../proto/gen/steward/v1/common.js';
import { CliError } from '../errors.js';
import { short } from '../output.js';
import { waitForOperation } from '../wait.js';
import { action, NO_WAIT_HELP, operationFailure, type Ctx, type NoWaitOption } from './common.js';

const statusOf = (b: Backup) => short(backupStatusToJSON(b.status), 'BACKUP_STATUS_');
const typeOf = (b: Backup) => short(backupTypeToJSON(b.type), 'BACKUP_TYPE_');
const backupJson = (b: Backup) => ({ ...b, status: backupStatusToJSON(b.status), type: backupTypeToJSON(b.type) });

/** 1536 -> "1.5 KiB": sizes people read. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

function printBackup(ctx: Ctx, b: Backup): void {
  if (ctx.out.json) return ctx.out.data(backupJson(b));
  const running = b.status === BackupStatus.BUILDING || b.status === BackupStatus.SAVING;
  ctx.out.record([
    ['id', b.id],
    ['name', b.name],
    ['description', b.description],
    ['instance', b.instanceId],
    ['datastore', b.datastoreVersion ? `${b.datastore} ${b.datastoreVersion}` : b.datastore],
    ['type', typeOf(b)],
    ['parent', b.parentId],
    ['status', b.message ? `${statusOf(b)}: ${b.message}` : statusOf(b)],
    ['size', b.size ? humanBytes(b.size) : ''],
    [running ? 'read so far' : 'native size', b.bytesDone ? humanBytes(b.bytesDone) : ''],
    ['checksum', b.checksum],
    ['location', b.location],
    ['operation', b.operationId],
    ['created', b.createdAt],
    ['updated', b.updatedAt],
  ]);
}

interface CreateOpts extends NoWaitOption {
  name?: string;
  description?: string;
  incremental?: boolean;
  parent?: string;
}

export function backupCommand(parent: Command): Command {
  const cmd = parent
    .command('backup')
    .alias('backups')
    .summary('Create, list, show and delete backups')
    .description(
      "Backups of an instance's data: the datastore's native physical backup, compressed, encrypted with a key per backup " +
        'and checksummed by the agent on its way into backup storage (a directory or S3). Restore one with ' +
        '"stewardctl instance create NAME --datastore TYPE --backup ID".',
    );

  cmd
    .command('create')
    .summary('Back up an instance and wait until the backup is stored')
    .description(
      'Back up an instance. Full by default; --incremental stores only what changed since --parent (default: the ' +
        "instance's latest completed backup), where the datastore supports it (MySQL/MariaDB, PostgreSQL). " +
        'Shows a progress bar while the agent streams, unless --no-wait.',
    )
    .argument('<INSTANCE_ID>', 'the instance to back up')
    .option('--name <NAME>', 'a name for the backup (default: backup-<UTC time>)')
    .option('--description <TEXT>', 'free text kept with the backup')
    .option('--incremental', 'store only the changes since the parent backup (refused where the datastore cannot)')
    .option('--parent <BACKUP_ID>', "with --incremental: the backup to build on (default: the instance's latest completed one)")
    .option('--no-wait', NO_WAIT_HELP)
    .addHelpText(
      'after',
      `
Examples:
  stewardctl backup create $ID --name before-migration
  stewardctl backup create $ID --incremental
  BK=$(stewardctl backup create $ID --json | jq -r .id)`,
    )
    .action(
      action<CreateOpts>(async (ctx, [instanceId], opts) => {
        const started = await ctx.api.createBackup({
          instanceId: instanceId!,
          name: opts.name ?? `backup-${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
          description: opts.description ?? '',
          incremental: !!opts.incremental,
          parentId: opts.parent ?? '',
        });
        if (opts.wait === false) {
          if (ctx.out.json) return ctx.out.data(backupJson(started));
          ctx.out.line(started.id);
          ctx.out.note(`backup ${started.id} started; follow it with: stewardctl backup show ${started.id}`);
          return;
        }
        if (process.stderr.isTTY) ctx.out.note(`backup ${started.id} (${typeOf(started).toLowerCase()}) started`);
        const op = await waitForOperation(ctx.api, await ctx.api.getOperation(started.operationId), ctx.wait);
        const final = await ctx.api.getBackup(started.id);
        if (final.status !== BackupStatus.COMPLETED) {
          if (ctx.out.json) ctx.out.data(backupJson(final));
          if (op.state !== OperationState.SUCCEEDED) throw operationFailure(op);
          throw new CliError(statusOf(final), `backup ${final.id}: ${final.message || statusOf(final)}`);
        }
        printBackup(ctx, final);
      }),
    );

  cmd
    .command('list')
    .alias('ls')
    .summary("List backups (all of your tenant's, or one instance's)")
    .description("List backups with type, parent, status and stored size: every backup of your tenant's instances, or one instance's with --instance.")
    .option('--instance <ID>', "only this instance's backups")
    .action(
      action<{ instance?: string }>(async (ctx, _args, opts) => {
        const backups = await ctx.api.listBackups(opts.instance ?? '');
        if (ctx.out.json) return ctx.out.data(backups.map(backupJson));
        ctx.out.table(
          ['id', 'name', 'instance', 'type', 'parent', 'status', 'size', 'created'],
          backups.map((b) => [b.id, b.name, b.instanceId, typeOf(b), b.parentId, statusOf(b), b.size ? humanBytes(b.size) : '', b.createdAt]),
        );
      }),
    );

  cmd
    .command('show')
    .alias('get')
    .summary('Show one backup: status (with the reason when FAILED), size, checksum, location')
    .description('Show one backup: status (with the reason when FAILED), stored and native size, checksum, location and the operation that made it.')
    .argument('<ID>', 'backup id')
    .action(
      action(async (ctx, [id]) => {
        printBackup(ctx, await ctx.api.getBackup(id!));
      }),
    );

  cmd
    .command('delete')
    .alias('rm')
    .summary('Delete a backup and its stored objects')
    .description(
      'Delete a backup and its objects in storage. A backup that incremental backups are built on is refused ' +
        'unless --chain, which deletes those too (children first).',
    )
    .argument('<ID>', 'backup id')
    .option('--chain', 'also delete every incremental backup built on this one')
    .action(
      action<{ chain?: boolean }>(async (ctx, [id], opts) => {
        const deleted = await ctx.api.deleteBackup(id!, !!opts.chain);
        if (ctx.out.json) return ctx.out.data({ deletedIds: deleted });
        for (const d of deleted) ctx.out.line(`backup ${d} deleted`);
      }),
    );

  return cmd;
}
