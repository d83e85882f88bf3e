// The benchmark's consumer, in a process of its own as Ceilometer would be:
// binds a fresh durable queue (so the broker persists what it confirms, as for
// a real consumer's queue) to notifications.info and notifications.error on the
// exchange, prints "ready", then one line per message: its message_id, when it
// arrived (ms since the epoch, sub-millisecond) and when its state change
// happened (the event's UTC timestamp, whole ms; or `payload.sent`, which the
// raw baseline sets with sub-millisecond precision). Run by bench/notifications.ts.
//   npx tsx bench/notifications-consumer.ts <amqp-url> <exchange>
import { connect } from 'amqplib';

const [url, exchange] = process.argv.slice(2);
const conn = await connect(url);
const ch = await conn.createChannel();
await ch.assertExchange(exchange, 'topic', { durable: true, autoDelete: false });
const { queue } = await ch.assertQueue(`bench-consumer-${process.pid}`, { durable: true, autoDelete: true });
for (const key of ['notifications.info', 'notifications.error']) await ch.bindQueue(queue, exchange, key);
await ch.prefetch(1_000);
await ch.consume(queue, (m) => {
  if (!m) return;
  const arrived = performance.timeOrigin + performance.now();
  const envelope = JSON.parse(m.content.toString('utf8')) as { 'oslo.message': string };
  const n = JSON.parse(envelope['oslo.message']) as { message_id: string; timestamp: string; payload: { sent?: number } };
  const changed = n.payload.sent ?? Date.parse(`${n.timestamp.slice(0, 23).replace(' ', 'T')}Z`);
  process.stdout.write(`${n.message_id} ${arrived.toFixed(3)} ${changed}\n`);
  ch.ack(m);
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => void conn.close().finally(() => process.exit(0)));
