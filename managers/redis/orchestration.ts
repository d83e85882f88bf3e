// Controller entry point of the redis manager. Kept free of the client library
// and of anything that touches a server: the controller only validates and describes.
import type { OrchestrationModule } from '../sdk/contract.js';
import { redisIdentity } from './identity.js';

const redisOrchestration: OrchestrationModule = {
  ...redisIdentity,
  rootDescription:
    'Enabling root turns on the built-in ACL user "default" with a new generated password and every ' +
    'permission (~* &* +@all), so clients that AUTH with just a password, or as "default", get full ' +
    'access. The password is shown once and is not stored by Steward; enable root again to get a new ' +
    'one. Disabling root turns "default" off and clears its password and permissions. Even as root, ' +
    'DEBUG, MODULE and changes to protected settings (dir, dbfilename, ...) stay disabled by the ' +
    "server's configuration.",
};

export default redisOrchestration;
