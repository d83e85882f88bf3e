// How the controller reads MariaDB replication positions (GTID sets): no
// driver, no server; the orchestration side of the mysql manager.
import type { ReplicationStrategy } from '../sdk/replication.js';
import { compareGtid, gtidDistance } from './gtid.js';

export const mysqlReplication: ReplicationStrategy = {
  compare: (a, b) => compareGtid(a, b),
  // In transactions, not bytes: GTIDs count transactions.
  distance: (ahead, behind) => gtidDistance(ahead, behind),
  synchronous: true,
  cascading: true,
  seedFromBackup: true,
  lagUnit: 'transactions',
  defaultMaxLag: 1_000,
};
