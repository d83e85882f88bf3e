// The hashing worker of an off-thread tap (digest.ts): sha256 of the ring of
// shared memory (workerData.ring), one [offset, length] message at a time,
// each acknowledged with its length so the tap can reuse that part of the
// ring; the digest on 'end'.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');

const ring = new Uint8Array(workerData.ring);
const hash = createHash('sha256');
parentPort.on('message', (m) => {
  if (m === 'end') return parentPort.postMessage({ digest: hash.digest('hex') });
  hash.update(ring.subarray(m[0], m[0] + m[1]));
  parentPort.postMessage(m[1]);
});
