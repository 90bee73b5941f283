// A queue job, run in the worker's child process (BullMQ's sandboxed processor): training holds
// the event loop for seconds, so the parent, which keeps the job's lock alive, must not run it.
// The child learns its store and threads from the environment the worker set.
import { unlink } from 'node:fs/promises';

import { UnrecoverableError, type SandboxedJob } from 'bullmq';

import { pickDevice, setNumThreads, type Device } from '../engine/index.js';
import { loadDataset, saveDataset } from '../data/store.js';
import type { ImageDataset } from '../data/dataset.js';
import { runCell, type CellResult } from '../matrix/cell.js';
import type { ResolvedCell } from '../matrix/config.js';
import { loadPurifier, purifyShard, type Purifier } from '../defenses/purify.js';
import { keyHash } from '../io/stage.js';
import { ArtifactStore } from './store.js';
import { JobRejected, validateJob, type CellJob, type PurifyShardJob } from './jobs.js';

// A worker killed with SIGKILL cannot stop its child: the child notices the closed channel.
process.on('disconnect', () => process.exit(1));

let store: ArtifactStore | null = null;
let device: Device | null = null;

async function setup(): Promise<{ store: ArtifactStore; device: Device }> {
  if (!store) {
    const root = process.env.ECLIPSE_STORE;
    if (!root) throw new Error('the worker did not set ECLIPSE_STORE');
    store = await ArtifactStore.open(root);
    setNumThreads(Number(process.env.ECLIPSE_THREADS ?? 2));
    device = pickDevice((process.env.ECLIPSE_DEVICE ?? 'auto') as 'auto');
  }
  return { store, device: device! };
}

export interface ShardResult {
  sha: string;
  images: number;
  reverseSteps: number;
  iteration: string;
  seconds: number;
  /** whether the shard was already in the store */
  reused: boolean;
}

async function runCellJob(job: CellJob, cell: ResolvedCell, s: ArtifactStore, dev: Device, log: (m: string) => void): Promise<CellResult> {
  const data = job.data && { train: await s.verified(job.data.train), test: await s.verified(job.data.test), pool: await s.verified(job.data.pool) };
  return runCell(cell, { dataDir: s.dataDir(cell.spec.profile), ...(data ? { data } : {}), artifactsDir: s.artifactsDir, device: dev, quiet: true, log }, job.cleanTwin);
}

// The child keeps the last input set and denoiser: a worker's next shard of the same run reuses them.
let loaded: { input: string; ds: ImageDataset } | null = null;
let purifier: { key: string; p: Purifier } | null = null;

async function runShardJob(job: PurifyShardJob, s: ArtifactStore, dev: Device): Promise<ShardResult> {
  const t0 = performance.now();
  const key = `shard-${keyHash({ input: job.input, checkpoint: job.checkpoint, recipe: job.recipe, seed: job.seed, shard: job.shard })}`;
  if (loaded?.input !== job.input) loaded = { input: job.input, ds: await loadDataset(await s.verified(job.input)) };
  const pkey = JSON.stringify([job.checkpoint, job.recipe]);
  if (purifier?.key !== pkey) {
    purifier?.p.dispose();
    purifier = { key: pkey, p: await loadPurifier(await s.verified(job.checkpoint), job.recipe, dev) };
  }
  const p = purifier.p;
  const info = { reverseSteps: p.reverseSteps, iteration: p.meta.iteration ?? '' };
  const done = await s.lookup(key);
  if (done) return { sha: done, images: 0, ...info, seconds: (performance.now() - t0) / 1000, reused: true };
  const part = purifyShard(loaded.ds, job.shard, p, job.recipe, job.seed);
  const tmp = await s.scratch('.safetensors');
  await saveDataset(part, tmp);
  const sha = await s.putFile(tmp);
  await unlink(tmp).catch(() => undefined);
  await s.record(key, sha);
  return { sha, images: part.n, ...info, seconds: (performance.now() - t0) / 1000, reused: false };
}

export default async function processJob(job: SandboxedJob): Promise<unknown> {
  let parsed;
  try {
    parsed = validateJob(job.data);
  } catch (e) {
    // A malformed job never becomes valid by retrying.
    if (e instanceof JobRejected) throw new UnrecoverableError(`job ${job.id} rejected: ${e.message}`);
    throw e;
  }
  const { store: s, device: dev } = await setup();
  if (parsed.job.store !== s.id)
    throw new Error(`job ${job.id} belongs to store ${parsed.job.store}, this worker's store at ${s.root} is ${s.id}: mount the coordinator's shared path here (--store)`);
  const log = (m: string): void => console.error(`[job ${job.id}] ${m}`);
  switch (parsed.job.kind) {
    case 'noop':
      return { ok: true };
    case 'cell':
      return runCellJob(parsed.job, parsed.cell!, s, dev, log);
    case 'purify-shard':
      return runShardJob(parsed.job, s, dev);
  }
}
