// The coordinator side of the queue: turns matrix cells and purification shards into jobs,
// waits for them, and alone writes the results (the SQLite database, the purified file).
// Jobs are named by their hash, so adding one twice is a no-op; the coordinator re-adds any job
// that Redis lost (a restart without persistence) and records each result exactly once.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import type { Job, Queue } from 'bullmq';

import { loadDataset, saveDataset } from '../data/store.js';
import { assemblePurified, existingPurification, purificationKey, shardBounds, shardCount } from '../defenses/purify.js';
import type { PurifyRecipe } from '../defenses/purify.js';
import { cleanTwinHash, type ResolvedCell } from '../matrix/config.js';
import type { CellContext, CellResult } from '../matrix/cell.js';
import { CostModel, planMatrix, runOrder, type MatrixRunOptions, type MatrixRunResult } from '../matrix/runner.js';
import type { ResultsDb } from '../matrix/db.js';
import { keyHash } from '../io/stage.js';
import { Progress } from '../io/progress.js';
import type { CellJob, PurifyShardJob, QueueJob } from './jobs.js';
import { coordinate } from './lease.js';
import type { ShardResult } from './processor.js';
import { redactUrl } from './redis.js';
import type { RunContext } from '../engine/index.js';

/** Retries of a failing job (exponential backoff from `backoffMs`) before it counts as failed. */
export const JOB_ATTEMPTS = 4;

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
export async function awaitJobs<R>(queue: Queue, ids: string[], make: (id: string) => QueueJob, onOutcome: (o: Outcome<R>) => void, o: { backoffMs: number; log: (m: string) => void; signal?: AbortSignal; pollMs?: number; record: (line: string) => Promise<unknown>; nap: (ms: number) => Promise<void> }): Promise<void> {
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
    const model = CostModel.of(db);
    const estimates = model.plan(claimed.map((h) => byHash.get(h)!));
    const seconds = (cell: ResolvedCell): number => estimates.get(cell.hash)?.seconds ?? 0;
    const total = claimed.reduce((s, h) => s + seconds(byHash.get(h)!), 0);
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
          progress.tick(seconds(cell), { cells: `${res.ran + res.skipped + res.failed}/${order.length}` });
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

export interface PurifyOnQueueOptions extends QueueRunOptions, RunContext {
  /** the dataset file to purify and the denoiser checkpoint, as the user named them */
  input: string;
  checkpoint: string;
  recipe: PurifyRecipe;
  seed: number;
  out: string;
  /** replace a purified file of other inputs at `out` */
  overwrite?: boolean;
  log: (m: string) => void;
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
