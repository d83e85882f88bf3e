// Picks the service backend named in the agent's configuration.
import type { Logger } from './logger.js';
import type { ServiceControl } from './service-control.js';
import { ProcessServiceControl, type SupervisionOptions } from './service-process.js';
import { SystemdServiceControl } from './service-systemd.js';

export type ServiceKind = 'process' | 'systemd';

/** What the systemd backend needs besides supervision: whose servers these are, and where they may write. */
export interface ServiceOwner {
  instanceKey: string;
  writablePaths: string[];
}

export function createServiceControl(kind: ServiceKind, log: Logger, opts: SupervisionOptions = {}, owner?: ServiceOwner): ServiceControl {
  const child = log.child({ component: 'service', backend: kind });
  switch (kind) {
    case 'process':
      return new ProcessServiceControl(child, opts);
    case 'systemd':
      if (!owner) throw new Error('the systemd service backend needs the instance it serves');
      return new SystemdServiceControl(child, { ...opts, ...owner });
    default:
      throw new Error(`unknown service control ${JSON.stringify(kind satisfies never)}`);
  }
}
