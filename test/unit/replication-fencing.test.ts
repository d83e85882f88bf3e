// The agent's half of "one writable primary": terms kept across restarts and
// the write lease (granted from the heartbeat's own send time, persisted so
// that a restarted agent does not grant itself one), and the controller's
// choice of a failover candidate by GTID sets. Real journal files, real clocks
// passed in as numbers (no timers waited on).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Terms, WriteLease } from '../../agent/fencing.js';
import { Journal } from '../../agent/journal.js';
import { createLogger } from '../../managers/sdk/logger.js';
import { mysqlReplication } from '../../managers/mysql/replication-strategy.js';
import { mostAdvanced } from '../../controller/replication/candidate.js';
import { ReplicationStatus } from '../../proto/gen/steward/v1/replication.js';
import { tempDir } from '../fixtures/controller.js';
import { expectCode } from '../fixtures/datastore-assertions.js';

const log = createLogger('test', { level: 'silent' });

function lease(path: string, holds = true) {
  const journal = new Journal(path);
  const fenced: number[] = [];
  const l = new WriteLease({
    leaseMs: 3_000,
    journal,
    holdsLease: () => holds,
    fence: async () => void fenced.push(Date.now()),
    log,
  });
  return { l, journal, fenced };
}

describe('terms', () => {
  it('refuses an older term, records a newer one, and remembers it after a restart', async () => {
    const path = join(tempDir('terms-'), 'j.db');
    const j = new Journal(path);
    const terms = new Terms(j);
    expect(terms.current).toBe(0);
    terms.accept(3, 'promote_replica');
    terms.accept(3, 'attach_replica'); // the same term again is fine
    j.close();
    const again = new Terms(new Journal(path));
    expect(again.current).toBe(3);
    await expectCode(
      Promise.resolve().then(() => again.accept(2, 'promote_replica')),
      'FAILED_PRECONDITION',
    );
    expect(again.current).toBe(3);
  });
});

describe('the write lease', () => {
  it('fences a primary once no grant has come for longer than the lease, counting from when the granted heartbeat left', async () => {
    const { l, fenced } = lease(join(tempDir('lease-'), 'j.db'));
    const sent = Date.now();
    l.renew(sent);
    expect(await l.check(sent + 2_999)).toBe(false);
    expect(fenced).toEqual([]);
    expect(await l.check(sent + 3_001)).toBe(true);
    expect(fenced.length).toBe(1);
  });

  it('never moves the lease back, nor beyond now (a grant echoing a clock in the future)', async () => {
    const { l } = lease(join(tempDir('lease-'), 'j.db'));
    const now = Date.now();
    l.renew(now);
    l.renew(now - 10_000); // a late grant for an older heartbeat
    expect(l.expired(now + 2_000)).toBe(false);
    l.renew(now + 3_600_000, now); // clamped to now
    expect(l.expired(now + 3_001)).toBe(true);
  });

  it('does nothing for an instance that is not a writable primary', async () => {
    const { l, fenced } = lease(join(tempDir('lease-'), 'j.db'), false);
    expect(await l.check(Date.now() + 60_000)).toBe(false);
    expect(fenced).toEqual([]);
  });

  it('survives a restart: a restarted agent counts from the last grant it had, not from its own start', () => {
    const path = join(tempDir('lease-'), 'j.db');
    const first = lease(path);
    const granted = Date.now() - 10_000;
    first.l.renew(granted);
    first.journal.close();
    const again = lease(path);
    expect(again.l.expired()).toBe(true); // away longer than the lease: fence before taking writes
    const fresh = lease(join(tempDir('lease-'), 'j.db'));
    expect(fresh.l.expired()).toBe(true); // never granted at all
  });
});

describe('choosing a failover candidate (MariaDB GTID sets)', () => {
  const candidate = (id: string, received: string, position = received) => ({ id, status: ReplicationStatus.fromPartial({ received, position }) });

  it('picks the replica that has every transaction the others have', () => {
    const best = mostAdvanced(mysqlReplication, [candidate('a', '0-1-100'), candidate('b', '0-1-120', '0-1-90'), candidate('c', '0-1-119')]);
    expect(best?.id).toBe('b'); // received counts: promote applies the relay log first
  });

  it('never picks a replica whose GTID set is not a superset of the others', () => {
    // a has 0-2-5 that b lacks, b has 0-1-200 beyond a: neither contains the other.
    expect(mostAdvanced(mysqlReplication, [candidate('a', '0-1-100,1-2-5'), candidate('b', '0-1-200')])).toBeUndefined();
  });

  it('takes equals as equals (either is fine) and a single candidate as it is', () => {
    expect(mostAdvanced(mysqlReplication, [candidate('a', '0-1-7'), candidate('b', '0-1-7')])?.id).toBe('a');
    expect(mostAdvanced(mysqlReplication, [candidate('only', '')])?.id).toBe('only');
  });
});
