// Preloaded into every test process by scripts/run-tests.mjs (node --import). A test stuck in
// native code blocks the event loop, so node's own --test-timeout never fires; this watchdog
// runs on a worker thread, which keeps running while the main thread is blocked. When a test
// passes its limit it names the test, prints the native threads' stacks (gdb, when present), and
// kills the process, so a hang fails within minutes and says where.
import { afterEach, beforeEach } from 'node:test';
import { Worker } from 'node:worker_threads';
import { basename } from 'node:path';
import { testLimitS } from './limits.js';

const limitS = testLimitS();

const source = `
const { parentPort, workerData } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
const { writeSync } = require('node:fs');
let current = null;
parentPort.on('message', (m) => { current = m.name === undefined ? null : m; });
setInterval(() => {
  if (current === null) return;
  const s = (Date.now() - current.at) / 1000;
  if (s < workerData.limitS) return;
  writeSync(2, '\\nTEST HANG: "' + current.name + '" in ' + workerData.file + ' has run ' + s.toFixed(0) + ' s (limit ' +
    workerData.limitS + ' s, ECLIPSE_TEST_TIMEOUT_S); killing it\\n');
  const gdb = spawnSync('gdb', ['-p', String(process.pid), '-batch', '-nx', '-ex', 'thread apply all bt 12'], { encoding: 'utf8', timeout: 30000 });
  if (gdb.status === 0) {
    // one block per thread; idle ones (waiting on a condition, a semaphore or epoll) are left out
    const blocks = gdb.stdout.split(/\\n(?=Thread )/).filter((b) => b.startsWith('Thread '));
    const busy = blocks.filter((b) => !/^#0 .*(futex|epoll_pwait|sem_wait|pthread_cond)/m.test(b));
    writeSync(2, busy.map((b) => b.split('\\n').filter((l) => /^(Thread|#)/.test(l)).slice(0, 13).join('\\n')).join('\\n') + '\\n');
  }
  process.kill(process.pid, 'SIGKILL');
}, 1000);
`;

if (limitS > 0) {
  const watchdog = new Worker(source, { eval: true, workerData: { limitS, file: basename(process.argv[1] ?? '?') } });
  watchdog.unref();
  beforeEach((t) => watchdog.postMessage({ name: t.name, at: Date.now() }));
  afterEach(() => watchdog.postMessage({}));
}
