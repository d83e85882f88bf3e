// How the controller reads Redis replication positions: no client, no server;
// the orchestration side of the redis manager. Positions and the rule they
// compare by are in replication-position.ts.
import type { ReplicationStrategy } from '../sdk/replication.js';
import { compareText, distanceText } from './replication-position.js';

export const redisReplication: ReplicationStrategy = {
  compare: (a, b) => compareText(a, b),
  // In bytes of the replication stream: what a replica lacks of its source's offset.
  distance: (ahead, behind) => distanceText(ahead, behind),
  // Redis has no synchronous replication: a primary acknowledges a write once it
  // is in its own memory, whatever its replicas have. WAIT only blocks the one
  // client that calls it (and does not make the write fail when no replica has
  // it), so it cannot give the set a guarantee; a synchronous set is refused.
  synchronous: false,
  // A replica of a replica receives its source's stream byte for byte (same
  // replid, same offsets): chained replicas compare with everyone else.
  cascading: true,
  // A new replica's first sync is Redis's own full resynchronisation (an RDB
  // snapshot sent over the replication link): no backup is needed to seed it.
  seedFromBackup: false,
  lagUnit: 'bytes',
  // About a second of a busy primary's writes; also Redis's default replication backlog.
  defaultMaxLag: 1024 * 1024,
};
