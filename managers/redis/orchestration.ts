// Controller entry point of the redis manager. Kept free of the client library
// and of anything that touches a server: the controller only validates and describes.
import type { OrchestrationModule } from '../sdk/contract.js';
import { redisIdentity } from './identity.js';
import { redisReplication } from './replication-strategy.js';

const redisOrchestration: OrchestrationModule = {
  ...redisIdentity,
  replication: redisReplication,
  rootDescription:
    'Enabling root turns on the built-in ACL user "default" with a new generated password and every ' +
    'permission (~* &* +@all), so clients that AUTH with just a password, or as "default", get full ' +
    'access. The password is shown once and is not stored by Steward; enable root again to get a new ' +
    'one. Disabling root turns "default" off and clears its password and permissions. Even as root, ' +
    'DEBUG, MODULE and changes to protected settings (dir, dbfilename, ...) stay disabled by the ' +
    "server's configuration. In a replica set root is each member's own (replicas copy the primary's " +
    'users, not root): enable it on the instance you connect to.',
};

export default redisOrchestration;
