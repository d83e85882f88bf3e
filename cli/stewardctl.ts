#!/usr/bin/env -S node --import tsx
// stewardctl: the operator's command line for a Steward controller. See --help.
import { Command, CommanderError, Option } from 'commander';
import { databaseCommand } from './commands/database.js';
import { instanceCommand } from './commands/instance.js';
import { operationCommand } from './commands/operation.js';
import { rootCommand } from './commands/root.js';
import { userCommand } from './commands/user.js';
import { clusterCommand } from './commands/cluster.js';
import { replicaSetCommand } from './commands/replica-set.js';
import { eventsCommand } from './commands/events.js';
import { backupCommand } from './commands/backup.js';
import { configurationCommand } from './commands/configuration.js';
import { logCommand } from './commands/log.js';
import { positiveSeconds } from './commands/common.js';
import { DEFAULT_CONTROLLER } from './client.js';
import { asCliError, EXIT_OK, EXIT_USAGE, formatError, UsageError } from './errors.js';
import { STEWARD_VERSION } from '../managers/sdk/version.js';

// grpc-js passes an IP target as the TLS server name, which Node flags as deprecated on every
// run; an operator can do nothing about it, and it would break the one-line error contract.
process.noDeprecation = true;

const VERSION = STEWARD_VERSION;

/** Global options that take a value: their value is not a command name when we look for one. */
const VALUED_GLOBALS = new Set(['--controller', '--config', '--ca-file', '--timeout']);

export function buildProgram(): Command {
  const program = new Command('stewardctl')
    .description('Operate a Steward controller: database instances, their databases, users, root account and backups, and the operations that change them.')
    .version(VERSION, '-V, --version', 'print the stewardctl version')
    .helpOption('-h, --help', 'show help for a command')
    .option('--controller <host:port>', `controller address (env STEWARD_CONTROLLER, config "controller", default ${DEFAULT_CONTROLLER})`)
    .option('--config <path>', 'config file (env STEWARD_CONFIG, default ~/.config/steward/cli.yaml)')
    .option('--ca-file <path>', 'trust this CA for the controller\'s TLS certificate (env STEWARD_CA_FILE, config "caFile")')
    .option('--insecure', 'plain-text gRPC, for a controller started with --insecure-dev (env STEWARD_INSECURE=1)')
    .option('--json', 'print machine-readable JSON (proto field names, enums by name) instead of tables')
    .addOption(new Option('--timeout <seconds>', 'give up waiting for an operation after this long (it continues on the server)').argParser(positiveSeconds))
    // Fail with our one-line format and exit codes instead of commander's own.
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Configuration (first found wins for each setting):
  controller   --controller, STEWARD_CONTROLLER, "controller" in the config file, ${DEFAULT_CONTROLLER}
  token        STEWARD_TOKEN, "token" in the config file; sent as "authorization: Bearer <token>"
               (never over --insecure plain text)
  CA           --ca-file, STEWARD_CA_FILE, "caFile" in the config file; without one the
               system's root CAs are trusted
  plain text   --insecure, STEWARD_INSECURE=1, "insecure: true" in the config file
  config file  --config, STEWARD_CONFIG, $XDG_CONFIG_HOME/steward/cli.yaml (~/.config/steward/cli.yaml)

  The controller writes its CA to <dataDir>/pki/ca.pem and a first admin token to
  <dataDir>/admin.token. Example ~/.config/steward/cli.yaml (chmod 600: it holds a token):
    controller: steward.example.net:50051
    caFile: /etc/steward/ca.pem
    token: 3f1c...

Changes (create, restart, users, databases, ...) run as operations on the
server. By default stewardctl waits for them and shows their progress; --no-wait
prints the operation id instead (follow it with "stewardctl operation wait").
Progress and notes go to stderr, results to stdout.

Exit status:
  0    success
  1    the controller refused the request, an operation failed, or it was unreachable;
       stderr ends with one line "stewardctl: <CODE>: <message>" (CODE is a gRPC status name)
  2    bad usage (unknown command or option, missing argument, bad config); nothing was sent
  130  interrupted while waiting (the operation itself goes on)

Examples:
  stewardctl instance create shop --datastore mysql --database shop --user app:S3cret-pw
  stewardctl instance list
  stewardctl user list $ID --json | jq -r '.[].name'
  stewardctl root enable $ID
  stewardctl backup create $ID --incremental
  stewardctl instance create restored --datastore mysql --backup $BACKUP_ID`,
    );

  instanceCommand(program);
  databaseCommand(program);
  userCommand(program);
  rootCommand(program);
  operationCommand(program);
  backupCommand(program);
  configurationCommand(program);
  logCommand(program);
  clusterCommand(program);
  replicaSetCommand(program);
  eventsCommand(program);
  return program;
}

/** "stewardctl user create" for the argv given, so a usage error can point at the right --help. */
function commandPath(program: Command, argv: string[]): string {
  let cmd = program;
  const path = [program.name()];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-')) {
      if (VALUED_GLOBALS.has(a)) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    path.push(sub.name());
    cmd = sub;
  }
  return path.join(' ');
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      // A group run without a subcommand: commander has already printed its help on stderr.
      if (err.code === 'commander.help') return EXIT_USAGE;
      const message = err.message
        .replace(/^error:\s*/, '')
        .replace(/\s+/g, ' ')
        .trim();
      process.stderr.write(`${formatError(new UsageError(`${message} (see ${commandPath(program, argv)} --help)`))}\n`);
      return EXIT_USAGE;
    }
    const e = asCliError(err);
    process.stderr.write(`${formatError(e)}\n`);
    return e.exitCode;
  }
}

// `stewardctl ... | head` closes stdout early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await main();
