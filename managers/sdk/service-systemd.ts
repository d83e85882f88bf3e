// The `systemd` backend: the datastore comes from OS packages and its unit
// (spec.name) is driven through systemctl. systemd owns supervision, logs and
// the pid; the spec's command, user and files are the unit's business here.
import { failedPrecondition } from './errors.js';
import type { Logger } from './logger.js';
import { run, type Runner } from './runner.js';
import type { ServiceControl, ServiceSpec, ServiceState } from './service-control.js';

const UNIT_NAME = /^[A-Za-z0-9_][A-Za-z0-9:_.@\\-]*$/; // never starts with '-': it is argv to systemctl
const SYSTEMCTL_TIMEOUT_MS = 5 * 60_000;

export class SystemdServiceControl implements ServiceControl {
  readonly kind = 'systemd' as const;

  constructor(
    private readonly log: Logger,
    private readonly runner: Runner = run,
  ) {}

  async start(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    await this.systemctl(['start', unit(spec)], signal);
  }

  async stop(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    await this.systemctl(['stop', unit(spec)], signal);
  }

  async kill(spec: ServiceSpec): Promise<void> {
    // The stop after the kill keeps the unit down (Restart= would bring it back).
    await this.systemctl(['kill', '--signal=SIGKILL', unit(spec)]);
    await this.systemctl(['stop', unit(spec)]);
  }

  async restart(spec: ServiceSpec, signal?: AbortSignal): Promise<void> {
    await this.systemctl(['restart', unit(spec)], signal);
  }

  async state(spec: ServiceSpec): Promise<ServiceState> {
    // is-active exits non-zero for every state but active; the word is what counts.
    const { stdout } = await this.runner('systemctl', ['is-active', unit(spec)], {
      timeoutMs: 10_000,
      okCodes: [1, 2, 3, 4],
    });
    const word = stdout.trim();
    if (word === 'active' || word === 'activating' || word === 'reloading' || word === 'deactivating') return 'running';
    if (word === 'failed') return 'crashed';
    return 'stopped';
  }

  async pid(spec: ServiceSpec): Promise<number | undefined> {
    const { stdout } = await this.runner('systemctl', ['show', '--property=MainPID', '--value', unit(spec)], {
      timeoutMs: 10_000,
    });
    const pid = Number(stdout.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  private async systemctl(args: string[], signal?: AbortSignal): Promise<void> {
    this.log.info({ systemctl: args }, 'systemctl');
    await this.runner('systemctl', args, { signal, timeoutMs: SYSTEMCTL_TIMEOUT_MS });
  }
}

function unit(spec: ServiceSpec): string {
  if (!UNIT_NAME.test(spec.name)) throw failedPrecondition(`bad systemd unit name ${JSON.stringify(spec.name)}`);
  return spec.name;
}
