// Picks the service backend named in the agent's configuration.
import type { Logger } from './logger.js';
import type { ServiceControl } from './service-control.js';
import { ProcessServiceControl, type SupervisionOptions } from './service-process.js';
import { SystemdServiceControl } from './service-systemd.js';

export type ServiceKind = 'process' | 'systemd';

export function createServiceControl(kind: ServiceKind, log: Logger, opts: SupervisionOptions = {}): ServiceControl {
  const child = log.child({ component: 'service', backend: kind });
  switch (kind) {
    case 'process':
      return new ProcessServiceControl(child, opts);
    case 'systemd':
      return new SystemdServiceControl(child);
    default:
      throw new Error(`unknown service control ${JSON.stringify(kind satisfies never)}`);
  }
}
