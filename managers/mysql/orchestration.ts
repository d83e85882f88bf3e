// Controller entry point of the mysql manager. Kept free of the driver and of
// anything that touches a server: the controller only validates and describes.
import type { OrchestrationModule } from '../sdk/contract.js';
import { mysqlIdentity } from './identity.js';
import { mysqlReplication } from './replication-strategy.js';

const mysqlOrchestration: OrchestrationModule = {
  ...mysqlIdentity,
  replication: mysqlReplication,
  rootDescription:
    "Enabling root creates the account root@'%' (or resets its password if it exists) with ALL PRIVILEGES " +
    'WITH GRANT OPTION, reachable from any host the network allows. The generated password is shown once ' +
    "and is not stored by Steward; enable root again to get a new one. Disabling root drops root@'%'; " +
    "root@'localhost' stays reserved for the server's own maintenance.",
};

export default mysqlOrchestration;
