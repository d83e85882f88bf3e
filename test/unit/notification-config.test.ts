// The `notifications` section of the controller config: defaults that work
// without a broker, and errors that name the bad key.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../controller/config.js';
import { publisherIdOf } from '../../controller/notifications/config.js';

describe('notifications config', () => {
  it('defaults: the file sink and Watch on, AMQP off, exchange "trove" declared as oslo.messaging does, publisher steward.controller.<host>', () => {
    const n = parseControllerConfig({}).notifications;
    expect(n.file.enabled).toBe(true);
    expect(n.watch.enabled).toBe(true);
    expect(n.amqp).toMatchObject({ enabled: false, exchange: 'trove', durable: false, autoDelete: false, declareQueues: true });
    expect(n.dispatch).toMatchObject({ enabled: true, batchSize: 500 });
    expect(publisherIdOf(n)).toBe(`steward.controller.${hostname()}`);
    expect(publisherIdOf({ ...n, publisherId: 'billing.feed' })).toBe('billing.feed');
  });

  it('turns sinks on and off, keeping the other defaults', () => {
    const n = parseControllerConfig({ notifications: { file: { enabled: false }, amqp: { enabled: true, url: 'amqp://u:p@mq:5672/' } } }).notifications;
    expect(n.file.enabled).toBe(false);
    expect(n.amqp).toMatchObject({ enabled: true, url: 'amqp://u:p@mq:5672/', exchange: 'trove', confirmTimeoutMs: 10_000 });
  });

  it('names the bad key', () => {
    expect(() => parseControllerConfig({ notifications: { amqp: { exchnage: 'x' } } })).toThrow(/notifications\.amqp\.exchnage/);
    expect(() => parseControllerConfig({ notifications: { amqp: { url: 'http://mq' } } })).toThrow(/notifications\.amqp\.url/);
    expect(() => parseControllerConfig({ notifications: { dispatch: { batchSize: 0 } } })).toThrow(/notifications\.dispatch\.batchSize/);
  });
});
