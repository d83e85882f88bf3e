// Deployment facts that Trove's usage payload carries but no table holds.
export interface PayloadSettings {
  region: string;
  availabilityZone: string | null;
  /** Trove's per-datastore `service_id`; the datastore name when absent. */
  serviceIds: Record<string, string>;
}
