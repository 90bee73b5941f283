// The coordinator side of the queue: turns matrix cells and purification shards into jobs,
// waits for them, and alone writes the results (the SQLite database, the purified file).
// Jobs are named by their hash, so adding one twice is a no-op; the coordinator re-adds any job
// that Redis lost (a restart without persistence) and records each result exactly once.
import { hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

import { loadDataset, saveDataset } from '../data/store.js';
import { assemblePurified, existingPurification, purificationKey, shardBounds, shardCount } from '../defenses/purify.js';
import type { PurifyRecipe } from '../profiles.js';
import { cleanTwinHash } from '../matrix/config.js';
import type { CellContext, CellResult } from '../matrix/cell.js';
import { estimateSeconds, planMatrix, runOrder, type MatrixRunOptions, type MatrixRunResult } from '../matrix/runner.js';
import type { ResultsDb } from '../matrix/db.js';
import { keyHash } from '../io/stage.js';
import { Progress } from '../io/progress.js';
import { QUEUE_NAME, QUEUE_PREFIX, type CellJob, type PurifyShardJob, type QueueJob } from './jobs.js';
import type { ShardResult } from './processor.js';
import { connectRedis, redactUrl } from './redis.js';
import { ArtifactStore } from './store.js';

export class CoordinatorBusy extends Error {}

/** Retries of a failing job (exponential backoff from `backoffMs`) before it counts as failed. */
export const JOB_ATTEMPTS = 4;

interface Coordination {
  queue: Queue;
  /** sleep up to `ms`, woken early when a job completes or fails */
  nap(ms: number): Promise<void>;
  /** remember a finished job's duration (for the status ETA) */
  record(line: string): Promise<unknown>;
  connection: Redis;
  store: ArtifactStore;
  release(): Promise<void>;
}

/**
 * Connect, open the store, and take the coordinator lock `what` (one coordinator per matrix or
 * purification): a second one is refused while the first is alive; the lock lapses 30 s after
 * its holder dies.
 */
async function coordinate(queueUrl: string, storeDir: string, what: string, log: (m: string) => void): Promise<Coordination> {
  const store = await ArtifactStore.init(storeDir);
  const connection = await connectRedis(queueUrl, { log, name: 'eclipse-coordinator' });
  const key = `${QUEUE_PREFIX}:coordinator:${keyHash([store.id, what])}`;
  const me = JSON.stringify({ host: hostname(), pid: process.pid, what, since: new Date().toISOString() });
  const take = async (): Promise<void> => {
    const ok = await connection.set(key, me, 'PX', 30_000, 'NX');
    if (ok === 'OK') return;
    const holder = await connection.get(key);
    if (holder === me) {
      await connection.pexpire(key, 30_000);
      return;
    }
    throw new CoordinatorBusy(`${what} is already coordinated on this queue by ${holder ?? 'another process'}: one coordinator owns its results; wait for it or stop it (its lock lapses 30 s after it dies)`);
  };
  try {
    await take();
  } catch (e) {
    connection.disconnect();
    throw e;
  }
  // Renewed while we run; re-taken after a Redis restart that lost it.
  let lost: Error | null = null;
  const timer = setInterval(() => void take().catch((e: Error) => (lost = e)), 10_000);
  const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
  // Job events wake the wait loop at once; its polling is the fallback that survives anything.
  const eventsConnection = connection.duplicate();
  const events = new QueueEvents(QUEUE_NAME, { connection: eventsConnection, prefix: QUEUE_PREFIX });
  events.on('error', () => undefined); // reconnects by itself; the poll carries on meanwhile
  let wake: (() => void) | null = null;
  let missed = false; // an event while no one slept: the next nap returns at once
  const poke = (): void => (wake ? wake() : void (missed = true));
  events.on('completed', poke);
  events.on('failed', poke);
  const nap = (ms: number): Promise<void> =>
    new Promise((r) => {
      if (missed) return void ((missed = false), r());
      const done = (): void => {
        clearTimeout(t);
        wake = null;
        r();
      };
      const t = setTimeout(done, ms);
      wake = done;
    });
  return {
    queue,
    nap,
    record: (line) => connection.multi().lpush(DURATIONS, line).ltrim(DURATIONS, 0, 199).exec(),
    connection,
    store,
    release: async () => {
      clearInterval(timer);
      if (lost) log(`queue: ${(lost as Error).message}`);
      if ((await connection.get(key).catch(() => null)) === me) await connection.del(key).catch(() => undefined);
      await events.close().catch(() => undefined);
      eventsConnection.disconnect();
      await queue.close();
      connection.disconnect();
    },
  };
}

const DURATIONS = `${QUEUE_PREFIX}:durations`;

const jobOptions = (backoffMs: number) => ({ attempts: JOB_ATTEMPTS, backoff: { type: 'exponential' as const, delay: backoffMs }, removeOnComplete: false, removeOnFail: false });

/** Add the job unless the queue has it; a job failed for good by an earlier run is retried. */
async function ensureJob(queue: Queue, id: string, data: QueueJob, backoffMs: number): Promise<Job> {
  const have = await queue.getJob(id);
  if (have) {
    if ((await have.getState()) === 'failed') await have.retry('failed');
    return have;
  }
  return queue.add(data.kind, data, { ...jobOptions(backoffMs), jobId: id });
}

type Outcome<R> = { id: string; state: 'done'; result: R } | { id: string; state: 'failed'; error: string };

/**
 * Wait for the jobs `ids` (made by `make`), calling `onOutcome` once per finished job; a job
 * missing from Redis is added again. Polls, so it rides out Redis restarts.
 */
async function awaitJobs<R>(queue: Queue, ids: string[], make: (id: string) => QueueJob, onOutcome: (o: Outcome<R>) => void, o: { backoffMs: number; log: (m: string) => void; signal?: AbortSignal; pollMs?: number; record: (line: string) => Promise<unknown>; nap: (ms: number) => Promise<void> }): Promise<void> {
  const open = new Set(ids);
  for (const id of ids) await ensureJob(queue, id, make(id), o.backoffMs);
  while (open.size > 0 && !o.signal?.aborted) {
    await o.nap(o.pollMs ?? 2000);
    for (const id of [...open]) {
      // The state first, then the job: read the other way round, a job finishing in between
      // would look completed without its result.
      const state = await queue.getJobState(id);
      const job = state === 'unknown' ? undefined : await queue.getJob(id);
      if (!job) {
        o.log(`queue: job ${id} is gone from Redis (restarted without persistence?): adding it again`);
        await ensureJob(queue, id, make(id), o.backoffMs);
        continue;
      }
      if (state === 'completed') {
        open.delete(id);
        onOutcome({ id, state: 'done', result: job.returnvalue as R });
        // The pace of finished jobs, for `eclipse queue status` (the job itself is removed: an id
        // that comes back, e.g. a cell whose inputs changed, must run again).
        if (job.processedOn && job.finishedOn) await o.record(JSON.stringify({ kind: job.name, s: (job.finishedOn - job.processedOn) / 1000 })).catch(() => undefined);
        await job.remove().catch(() => undefined);
      } else if (state === 'failed' && job.attemptsMade >= JOB_ATTEMPTS) {
        open.delete(id);
        onOutcome({ id, state: 'failed', error: job.failedReason ?? 'failed' });
      } else if (state === 'failed' && /UnrecoverableError|rejected/.test(job.failedReason ?? '')) {
        open.delete(id);
        onOutcome({ id, state: 'failed', error: job.failedReason ?? 'rejected' });
      }
    }
  }
}

function checkCellResult(r: unknown): CellResult {
  const x = r as CellResult;
  if (!x || typeof x.testAcc !== 'number' || !(x.testAcc >= 0 && x.testAcc <= 1) || typeof x.seconds !== 'number' || typeof x.inputs !== 'string')
    throw new Error(`a worker returned a malformed cell result ${JSON.stringify(r)?.slice(0, 200)}`);
  return x;
}

export interface QueueRunOptions {
  /** redis://HOST:PORT */
  queue: string;
  /** the shared artifact store every worker mounts */
  store: string;
  /** first retry delay of a failed job (ms) */
  backoffMs?: number;
}

/** `eclipse matrix run --queue`: the cells become jobs; this process owns the database. */
export async function runMatrixOnQueue(o: Omit<MatrixRunOptions, 'artifactsDir' | 'dataDir'> & QueueRunOptions): Promise<MatrixRunResult> {
  const c = await coordinate(o.queue, o.store, `matrix ${o.config.name} (${resolve(o.db)})`, o.log);
  let opened: ResultsDb | null = null;
  try {
    const { cells, db } = planMatrix(o);
    opened = db;
    if (o.config.poisons && Object.keys(o.config.poisons).length)
      throw new Error('given poison files (the config\'s "poisons") do not travel on the queue yet: run this matrix without a queue, or generate the poisons in it');
    // The data the workers read: the config's own files by content, or the profile's CIFAR-10
    // import, made here once (in the store) before any job can need it.
    const data = o.config.data ? { train: await c.store.putFile(o.config.data.train), test: await c.store.putFile(o.config.data.test), pool: await c.store.putFile(o.config.data.pool) } : null;
    const ctx: CellContext = { dataDir: c.store.dataDir(o.config.profile), data: o.config.data, source: o.source, artifactsDir: c.store.artifactsDir, device: 'cpu', quiet: true, log: o.log };
    const order = await runOrder(cells, db, ctx, o.log);
    // Claim every runnable cell for this coordinator.
    const byHash = new Map(order.map((p) => [p.cell.hash, p.cell]));
    const claimed: string[] = [];
    for (let h = db.claim(order.map((p) => p.cell.hash)); h !== null; h = db.claim(order.map((p) => p.cell.hash).filter((x) => !claimed.includes(x)))) claimed.push(h);
    const done0 = order.length - claimed.length;
    const total = claimed.reduce((s, h) => s + estimateSeconds(byHash.get(h)!), 0);
    o.log(`matrix ${o.config.name}: ${order.length} cells, ${claimed.length} queued on ${redactUrl(o.queue)} (store ${c.store.root}), ${done0} finished or held by another runner -> ${o.db}`);
    const progress = new Progress({ label: 'matrix', total: Math.max(1, total), showRate: false, quiet: o.quiet });
    const renew = setInterval(() => claimed.forEach((h) => db.renew(h)), 60_000);
    const res: MatrixRunResult = { ran: 0, skipped: done0, failed: 0, others: 0 };
    const make = (h: string): CellJob => {
      const cell = byHash.get(h)!;
      const { poisonFile: _p, ...spec } = cell.spec;
      return { kind: 'cell', store: c.store.id, hash: h, spec, cleanTwin: spec.attack === 'clean' ? null : cleanTwinHash(cell), data };
    };
    try {
      await awaitJobs<CellResult>(
        c.queue,
        claimed,
        make,
        (out) => {
          const cell = byHash.get(out.id)!;
          if (out.state === 'done') {
            let r: CellResult;
            try {
              r = checkCellResult(out.result);
            } catch (e) {
              res.failed++;
              db.fail(out.id, (e as Error).message);
              return;
            }
            if (db.finish(out.id, r)) {
              res.ran++;
              o.log(`matrix: ${cell.label}: test accuracy ${(100 * r.testAcc).toFixed(2)}% (${(r.seconds / 60).toFixed(1)} min on a worker)`);
            } else res.others++;
          } else {
            res.failed++;
            db.fail(out.id, out.error);
            o.log(`matrix: ${cell.label} FAILED after ${JOB_ATTEMPTS} attempts: ${out.error.split('\n')[0]}`);
          }
          progress.tick(estimateSeconds(cell), { cells: `${res.ran + res.skipped + res.failed}/${order.length}` });
        },
        { backoffMs: o.backoffMs ?? 5_000, log: o.log, signal: o.signal, record: c.record, nap: c.nap },
      );
    } finally {
      clearInterval(renew);
    }
    // Cells left running by a stop (Ctrl-C) go back to pending; their jobs stay queued.
    for (const h of claimed) if (db.status([h]).get(h)?.status === 'running') db.release(h);
    progress.finish({ ran: String(res.ran), failed: String(res.failed) });
    return res;
  } finally {
    opened?.close();
    await c.release();
  }
}

export interface PurifyOnQueueOptions extends QueueRunOptions {
  /** the dataset file to purify and the denoiser checkpoint, as the user named them */
  input: string;
  checkpoint: string;
  recipe: PurifyRecipe;
  seed: number;
  out: string;
  /** replace a purified file of other inputs at `out` */
  overwrite?: boolean;
  quiet?: boolean;
  log: (m: string) => void;
  signal?: AbortSignal;
}

/**
 * `eclipse purify --queue`: one job per shard. The output is byte-identical to a local run with
 * the same seed: each shard's noise comes from its position, and the shards are assembled here
 * exactly as purifyDataset assembles them.
 */
export async function purifyOnQueue(o: PurifyOnQueueOptions): Promise<{ images: number; shards: number; reused: number }> {
  if (!existsSync(o.input)) throw new Error(`${o.input} not found`);
  const c = await coordinate(o.queue, o.store, `purification into ${resolve(o.out)}`, o.log);
  try {
    const ds = await loadDataset(o.input);
    const input = await c.store.putFile(o.input);
    const checkpoint = await c.store.putFile(o.checkpoint);
    const key = purificationKey(ds, checkpoint, o.recipe, o.seed);
    const done = await existingPurification(o.out, key, o.overwrite === true);
    if (done) {
      o.log(`${o.out} already holds this purification (same data, denoiser, recipe and seed)`);
      return { images: done.n, shards: 0, reused: 0 };
    }
    const shards = shardCount(ds.n, o.recipe);
    const job = (s: number): PurifyShardJob => ({ kind: 'purify-shard', store: c.store.id, input, checkpoint, recipe: o.recipe, seed: o.seed, shard: s });
    const ids = Array.from({ length: shards }, (_, s) => `purify-${keyHash(job(s))}`);
    const shardOf = new Map(ids.map((id, s) => [id, s]));
    o.log(`purify: ${ds.n} images in ${shards} shard job(s) on ${redactUrl(o.queue)}`);
    const progress = new Progress({ label: 'purify', total: ds.n, unit: 'img', quiet: o.quiet });
    const results = new Map<number, ShardResult>();
    const failed: string[] = [];
    await awaitJobs<ShardResult>(
      c.queue,
      ids,
      (id) => job(shardOf.get(id)!),
      (out) => {
        const s = shardOf.get(out.id)!;
        if (out.state === 'failed') return void failed.push(`shard ${s}: ${out.error.split('\n')[0]}`);
        results.set(s, out.result);
        const { lo, hi } = shardBounds(ds.n, s, o.recipe);
        progress.tick(hi - lo, { shard: `${results.size}/${shards}` });
      },
      { backoffMs: o.backoffMs ?? 5_000, log: o.log, signal: o.signal, record: c.record, nap: c.nap },
    );
    if (o.signal?.aborted) throw new Error('purification stopped; run the same command again to continue (finished shards are kept in the store)');
    if (failed.length) throw new Error(`${failed.length} shard(s) failed: ${failed.slice(0, 3).join('; ')}`);
    const parts = [];
    for (let s = 0; s < shards; s++) parts.push(await loadDataset(await c.store.verified(results.get(s)!.sha)));
    const first = results.get(0)!;
    await saveDataset(assemblePurified(ds, parts, { checkpoint: o.checkpoint, iteration: first.iteration, reverseSteps: first.reverseSteps, recipe: o.recipe, seed: o.seed, key }), o.out);
    progress.finish();
    return { images: ds.n, shards, reused: [...results.values()].filter((r) => r.reused).length };
  } finally {
    await c.release();
  }
}

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
