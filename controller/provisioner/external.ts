// The `external` provisioner: the machine and its agent are made by someone
// else (an operator with the steward-agent package, cloud-init). Creating an
// instance records it and hands out its enrollment token; the agent, started
// with that token, enrolls, connects and reports where its datastore listens;
// the prepare operation waits for it. Deleting asks the agent to destroy its
// datastore; the machine is its owner's to remove.
import type { Logger } from '../../managers/sdk/logger.js';
import type { Placement, ProvisionRequest, Provisioner } from './provisioner.js';

export class ExternalProvisioner implements Provisioner {
  constructor(private readonly log: Logger) {}

  async provision(req: ProvisionRequest): Promise<Placement> {
    this.log.info({ instanceId: req.instanceId, datastore: req.datastore }, 'instance recorded: waiting for its agent to enroll with the token');
    // Unknown until the agent says (Hello.endpoint_host/port).
    return { host: '', port: 0 };
  }

  async destroy(instanceId: string): Promise<void> {
    this.log.info({ instanceId }, 'instance removed; its machine is left to its owner');
  }

  async start(): Promise<void> {}

  stop(): void {}
}
