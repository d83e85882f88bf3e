// Controller entry point of the postgresql manager. Kept free of the driver and
// of anything that touches a server: the controller only validates and describes.
import type { OrchestrationModule } from '../sdk/contract.js';
import { postgresqlIdentity } from './identity.js';
import { postgresqlReplication } from './replication-strategy.js';

const postgresqlOrchestration: OrchestrationModule = {
  ...postgresqlIdentity,
  replication: postgresqlReplication,
  rootDescription:
    'Root is the "postgres" superuser, which owns the cluster and can do anything in every database. ' +
    'It exists from the start but cannot log in. Enabling root gives it a new generated password and lets it ' +
    'connect over TCP from any address the network allows (SCRAM-SHA-256 authentication); the password is shown ' +
    'once and is not stored by Steward; enable root again to get a new one. Disabling root removes the password, ' +
    'closes its network access again and ends its open network sessions. The agent manages the server through ' +
    'its own role (steward_admin), reachable only through the local socket, so disabling root never locks Steward out.',
};

export default postgresqlOrchestration;
