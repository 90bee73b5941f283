// `eclipse worker`: takes jobs from the queue one at a time and runs each in a child process
// (processor.ts). The parent only holds the job's lock; a worker that dies loses its lock, and
// after `lockMs` another worker takes the job again (at-least-once: jobs are idempotent, their
// artifacts shared by hash, and the coordinator records each result once).
import { hostname } from 'node:os';
import { join } from 'node:path';

import { Worker, type Job } from 'bullmq';

import { QUEUE_NAME, QUEUE_PREFIX } from './jobs.js';
import { connectRedis, redactUrl } from './redis.js';
import { ArtifactStore } from './store.js';

export interface WorkerOptions {
  queue: string;
  store: string;
  /** shown in `eclipse queue status` (default host:pid) */
  name?: string;
  threads: number;
  device: string;
  /** how long a job's lock lasts without renewal: a dead worker's job is retaken after it */
  lockMs?: number;
  log: (m: string) => void;
  signal?: AbortSignal;
}

// The child's entry, by path only: the parent never loads the engine or the models.
const PROCESSOR_FILE = join(import.meta.dirname, 'processor.js');

/** Run until the signal (SIGINT/SIGTERM in the CLI): the current job finishes first. */
export async function runWorker(o: WorkerOptions): Promise<{ completed: number; failed: number }> {
  const store = await ArtifactStore.open(o.store);
  const connection = await connectRedis(o.queue, { log: o.log, name: 'eclipse-worker' });
  // The child process inherits these (BullMQ forks it with this environment).
  process.env.ECLIPSE_STORE = store.root;
  process.env.ECLIPSE_THREADS = String(o.threads);
  process.env.ECLIPSE_DEVICE = o.device;
  const lockMs = o.lockMs ?? 30_000;
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const worker = new Worker(QUEUE_NAME, PROCESSOR_FILE, {
    connection,
    prefix: QUEUE_PREFIX,
    concurrency: 1,
    name,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    // a job whose worker died is put back this many times before it counts as failed
    maxStalledCount: 5,
    useWorkerThreads: false,
  });
  const count = { completed: 0, failed: 0 };
  const started = new Map<string, number>();
  worker.on('active', (job: Job) => {
    started.set(String(job.id), Date.now());
    o.log(`worker ${name}: job ${job.id} (${(job.data as { kind?: string }).kind}) started`);
  });
  worker.on('completed', (job: Job) => {
    count.completed++;
    o.log(`worker ${name}: job ${job.id} done in ${((Date.now() - (started.get(String(job.id)) ?? Date.now())) / 1000).toFixed(1)} s`);
  });
  worker.on('failed', (job: Job | undefined, err: Error) => {
    count.failed++;
    o.log(`worker ${name}: job ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${err.message}`);
  });
  worker.on('error', (err: Error) => o.log(`worker ${name}: ${err.message}`));
  o.log(`worker ${name}: taking jobs from ${redactUrl(o.queue)}, store ${store.root}, ${o.threads} thread(s)`);
  await new Promise<void>((resolve) => {
    if (o.signal?.aborted) return resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  o.log(`worker ${name}: stopping after the current job`);
  await worker.close();
  connection.disconnect();
  return count;
}
