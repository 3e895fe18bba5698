// node_threads.js: a node host with real threads (tests/integration/test_realhosts.c).
// Two worker_threads exchange messages with the main thread, and four
// crypto.pbkdf2 calls run in parallel on libuv's threadpool. Everything printed is
// deterministic: results are printed in a fixed order, after all of them arrived.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const crypto = require('crypto');

if (!isMainThread) {
  // a worker: answer each number with a sum over a small loop, then "done"
  parentPort.on('message', (m) => {
    if (m === 'stop') {
      parentPort.postMessage({ id: workerData.id, done: true });
      parentPort.close();
      return;
    }
    let s = 0;
    for (let i = 0; i < 20000; i++) s = (s + ((i * m) ^ workerData.id)) % 1000003;
    parentPort.postMessage({ id: workerData.id, n: m, s });
  });
} else {
  const runWorker = (id) => new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { id } });
    const got = [];
    w.on('message', (m) => {
      if (m.done) return;
      got.push(`${m.n}:${m.s}`);
      if (got.length === 5) w.postMessage('stop');
    });
    w.on('error', reject);
    w.on('exit', (code) => resolve(`worker ${id} exit ${code}: ${got.join(' ')}`));
    for (let n = 1; n <= 5; n++) w.postMessage(n * 7 + id);
  });
  const pbkdf2 = (i) => new Promise((resolve, reject) =>
    crypto.pbkdf2(`secret-${i}`, 'salt', 40000, 16, 'sha256',
      (err, key) => err ? reject(err) : resolve(`pbkdf2 ${i}: ${key.toString('hex')}`)));
  Promise.all([runWorker(1), runWorker(2), pbkdf2(0), pbkdf2(1), pbkdf2(2), pbkdf2(3)])
    .then((lines) => {
      for (const l of lines) console.log(l);
      console.log('node host done');
    })
    .catch((e) => { console.log('error', e.message); process.exitCode = 1; });
}
