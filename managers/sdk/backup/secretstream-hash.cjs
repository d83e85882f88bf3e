// The hash worker of sealStream (secretstream.ts): sha256 of every batch the
// cipher worker passes on (workerData.prev), each then transferred to the
// event loop; the digest once the cipher worker has sent its last batch.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');

const hash = createHash('sha256');
workerData.prev.on('message', (m) => {
  if (m.out) {
    hash.update(new Uint8Array(m.out, 0, m.n));
    parentPort.postMessage(m, [m.out]);
  } else if (m.end) {
    parentPort.postMessage({ digest: hash.digest('hex') });
  }
});
