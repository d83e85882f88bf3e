// The wire types managers work with, re-exported so that managers depend on the
// SDK only and never reach into generated code themselves.
export {
  DatastoreStatus,
  type Database,
  type User,
  type UserRef,
  type Access,
  type Page,
  type UserList,
  type DatabaseList,
  type RingView,
  type RingMember,
  type MemberInfo,
} from '../../proto/gen/steward/v1/common.js';
export type { PrepareRequest, ClusterMembership } from '../../proto/gen/steward/v1/agent.js';
