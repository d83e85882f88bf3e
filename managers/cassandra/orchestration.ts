// Controller entry point of the cassandra manager. Kept free of the driver and
// of anything that touches a server: the controller only validates and
// describes. How a ring is created, grown and shrunk lives in
// orchestration-strategy*.ts.
import type { OrchestrationModule } from '../sdk/contract.js';
import { cassandraIdentity } from './identity.js';
import { cassandraStrategy } from './orchestration-strategy.js';

const cassandraOrchestration: OrchestrationModule = {
  ...cassandraIdentity,
  rootDescription:
    "Enabling root creates the login superuser role 'root' (or resets its password if it exists). The generated " +
    'password is shown once and is not stored by Steward; enable root again to get a new one. Disabling root drops ' +
    "the role. Cassandra's default superuser 'cassandra' is disabled on every node Steward secures.",
  clusterStrategy: cassandraStrategy,
};

export default cassandraOrchestration;
