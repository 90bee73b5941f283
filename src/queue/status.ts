// Probes of a live queue: `eclipse queue status` (jobs waiting, running, failed, workers, ETA)
// and the time the queue adds per job (`npm run bench -- queue`).
import { Queue } from 'bullmq';

import { awaitJobs } from './coordinator.js';
import { QUEUE_NAME, QUEUE_PREFIX, type QueueJob } from './jobs.js';
import { DURATIONS, coordinate } from './lease.js';
import { connectRedis } from './redis.js';

export interface QueueStatus {
  counts: Record<string, number>;
  workers: { name: string; addr: string; age_s: number }[];
  active: { id: string; kind: string; worker: string; running_s: number; attempts: number }[];
  failed: { id: string; kind: string; reason: string; attempts: number }[];
  /** mean seconds of the recently completed jobs, by kind */
  meanSeconds: Record<string, number>;
  /** seconds until the waiting and running jobs are done at that pace, with these workers */
  etaSeconds: number | null;
}

/** `eclipse queue status`: jobs waiting, running, failed, with their workers and an ETA. */
export async function queueStatus(queueUrl: string): Promise<QueueStatus> {
  const connection = await connectRedis(queueUrl, { name: 'eclipse-status' });
  const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'paused');
    // BullMQ names a worker's connection <prefix>:<queue, base64>:w:<worker name>
    const workers = (await queue.getWorkers()).map((w) => ({ name: String(w.rawname ?? '').replace(/^.*?:w:/, ''), addr: String(w.addr ?? ''), age_s: Number(w.age ?? 0) }));
    const now = Date.now();
    const active = (await queue.getActive(0, 99)).map((j) => ({ id: String(j.id), kind: j.name, worker: String(j.processedBy ?? '?'), running_s: j.processedOn ? (now - j.processedOn) / 1000 : 0, attempts: j.attemptsMade }));
    const failed = (await queue.getFailed(0, 19)).map((j) => ({ id: String(j.id), kind: j.name, reason: (j.failedReason ?? '').split('\n')[0]!.slice(0, 200), attempts: j.attemptsMade }));
    const sums: Record<string, { s: number; n: number }> = {};
    for (const line of await connection.lrange(DURATIONS, 0, 199)) {
      const d = JSON.parse(line) as { kind: string; s: number };
      const e = (sums[d.kind] ??= { s: 0, n: 0 });
      e.s += d.s;
      e.n++;
    }
    const meanSeconds = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v.s / v.n]));
    const waiting = [...(await queue.getWaiting(0, 999)), ...(await queue.getDelayed(0, 999))];
    const pace = (kind: string): number | undefined => meanSeconds[kind];
    let work = 0;
    let known = true;
    for (const j of waiting) {
      const m = pace(j.name);
      if (m === undefined) known = false;
      else work += m;
    }
    for (const a of active) {
      const m = pace(a.kind);
      if (m === undefined) known = false;
      else work += Math.max(0, m - a.running_s);
    }
    const etaSeconds = known && workers.length > 0 ? work / workers.length : waiting.length + active.length === 0 ? 0 : null;
    return { counts, workers, active, failed, meanSeconds, etaSeconds };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/**
 * What the queue costs per job: `n` no-op jobs through the live workers, one at a time
 * (latency: add -> a worker's child runs it -> the coordinator sees it done) and all at once
 * (throughput). For `npm run bench -- queue` and for checking a deployment.
 */
export async function queueOverhead(queueUrl: string, storeDir: string, n: number, log: (m: string) => void = () => undefined): Promise<{ serialMs: number[]; batchMsPerJob: number }> {
  const c = await coordinate(queueUrl, storeDir, `overhead probe ${process.pid}`, log);
  try {
    const job = (): QueueJob => ({ kind: 'noop', store: c.store.id });
    const opts = { backoffMs: 500, log, record: c.record, nap: c.nap };
    const tag = `${process.pid}-${Date.now()}`;
    const serialMs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await awaitJobs(c.queue, [`noop-${tag}-s${i}`], job, () => undefined, opts);
      serialMs.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await awaitJobs(c.queue, Array.from({ length: n }, (_, i) => `noop-${tag}-b${i}`), job, () => undefined, opts);
    return { serialMs, batchMsPerJob: (performance.now() - t0) / n };
  } finally {
    await c.release();
  }
}
