// The time the distributed queue adds per job (issue 12): Redis on a loopback port, one
// `eclipse worker` process, and no-op jobs through the whole path a real job takes (added by a
// coordinator, taken by the worker, run in its child process, result seen by the coordinator).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ArtifactStore } from '../src/queue/store.js';
import { queueOverhead } from '../src/queue/status.js';

export async function runQueueBench(o: { jobs: number; out: string }): Promise<void> {
  const redis = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!redis) throw new Error('redis-server is not installed (scripts/setup.sh installs it)');
  const dir = mkdtempSync(join(tmpdir(), 'eclipse-queue-bench-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawn(redis, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
  const url = `redis://127.0.0.1:${port}`;
  const store = await ArtifactStore.init(join(dir, 'store'));
  await new Promise((r) => setTimeout(r, 500));
  const worker = spawn(process.execPath, [bin, 'worker', '--queue', url, '--store', store.root, '--threads', '1', '--device', 'cpu'], { stdio: 'ignore', env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
  try {
    // the first job also starts the worker's child process (loading the engine): timed apart
    const t0 = performance.now();
    await queueOverhead(url, store.root, 1);
    const firstMs = performance.now() - t0;
    const r = await queueOverhead(url, store.root, o.jobs);
    const s = [...r.serialMs].sort((a, b) => a - b);
    const median = s[Math.floor(s.length / 2)]!;
    const p90 = s[Math.floor(s.length * 0.9)]!;
    const result = {
      what: 'no-op jobs through Redis, one eclipse worker (child process per worker, reused), coordinator waiting on job events',
      jobs: o.jobs,
      first_job_ms: Math.round(firstMs),
      serial_median_ms: Number(median.toFixed(1)),
      serial_p90_ms: Number(p90.toFixed(1)),
      batch_ms_per_job: Number(r.batchMsPerJob.toFixed(1)),
      node: process.version,
      date: new Date().toISOString(),
    };
    console.log(`queue: ${o.jobs} no-op jobs: one at a time median ${result.serial_median_ms} ms (p90 ${result.serial_p90_ms} ms) from add to result; all at once ${result.batch_ms_per_job} ms per job; first job (worker child start) ${result.first_job_ms} ms`);
    mkdirSync(join(o.out, '..'), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2) + '\n');
    console.log(`-> ${o.out}`);
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.on('close', r));
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
