// What a queue job is: data, never code. Each kind has a fixed shape that a worker checks before
// it runs anything; a cell is re-resolved through the matrix config's own checks and must hash
// to the id it claims; every file is named by its sha256 in the store.
import { expandMatrix, parseMatrixConfig, type CellSpec, type ResolvedCell } from '../matrix/config.js';
import type { PurifyRecipe } from '../defenses/purify.js';

/** The one BullMQ queue eclipse uses, under its own key prefix in Redis. */
export const QUEUE_NAME = 'jobs';
export const QUEUE_PREFIX = 'eclipse';

/** A matrix cell: run it to its test accuracy. */
export interface CellJob {
  kind: 'cell';
  store: string;
  hash: string;
  spec: CellSpec;
  cleanTwin: string | null;
  /** the config's own data (sha256 in the store), or null for the profile's CIFAR-10 import */
  data: { train: string; test: string; pool: string } | null;
}

/** One shard of a purification: its images purified, written to the store. */
export interface PurifyShardJob {
  kind: 'purify-shard';
  store: string;
  /** the dataset and denoiser checkpoint (sha256 in the store) */
  input: string;
  checkpoint: string;
  recipe: PurifyRecipe;
  seed: number;
  shard: number;
}

/** Does nothing: measures what the queue itself costs per job. */
export interface NoopJob {
  kind: 'noop';
  store: string;
}

export type QueueJob = CellJob | PurifyShardJob | NoopJob;

export class JobRejected extends Error {}

const SHA = /^[0-9a-f]{64}$/;
const HASH = /^[0-9a-f]{16}$/;

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JobRejected(`${what} must be an object`);
  return v as Record<string, unknown>;
}
function only(o: Record<string, unknown>, keys: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length) throw new JobRejected(`${what} has unknown field(s) ${extra.join(', ')}`);
}
function sha(v: unknown, what: string): string {
  if (typeof v !== 'string' || !SHA.test(v)) throw new JobRejected(`${what} must be a sha256 (64 hex digits)`);
  return v;
}
function int(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new JobRejected(`${what} must be an integer >= ${min}`);
  return v;
}

/** Check a job's data; a valid cell job also returns its resolved cell. */
export function validateJob(raw: unknown): { job: QueueJob; cell?: ResolvedCell } {
  const o = obj(raw, 'job');
  if (typeof o.store !== 'string' || !/^[0-9a-f-]{36}$/.test(o.store)) throw new JobRejected('job.store must be the store id');
  if (o.kind === 'noop') {
    only(o, ['kind', 'store'], 'noop job');
    return { job: o as unknown as NoopJob };
  }
  if (o.kind === 'purify-shard') {
    only(o, ['kind', 'store', 'input', 'checkpoint', 'recipe', 'seed', 'shard'], 'purify-shard job');
    sha(o.input, 'job.input');
    sha(o.checkpoint, 'job.checkpoint');
    int(o.seed, 'job.seed', 0);
    int(o.shard, 'job.shard', 0);
    const r = obj(o.recipe, 'job.recipe');
    only(r, ['tStar', 'respacedSteps', 'batchSize', 'shardSize'], 'job.recipe');
    int(r.tStar, 'recipe.tStar', 1);
    int(r.respacedSteps, 'recipe.respacedSteps', 0);
    int(r.batchSize, 'recipe.batchSize', 1);
    int(r.shardSize, 'recipe.shardSize', 1);
    return { job: o as unknown as PurifyShardJob };
  }
  if (o.kind === 'cell') {
    only(o, ['kind', 'store', 'hash', 'spec', 'cleanTwin', 'data'], 'cell job');
    if (typeof o.hash !== 'string' || !HASH.test(o.hash)) throw new JobRejected('job.hash must be a cell hash (16 hex digits)');
    if (o.cleanTwin !== null && (typeof o.cleanTwin !== 'string' || !HASH.test(o.cleanTwin))) throw new JobRejected('job.cleanTwin must be a cell hash or null');
    if (o.data !== null) {
      const d = obj(o.data, 'job.data');
      only(d, ['train', 'test', 'pool'], 'job.data');
      for (const k of ['train', 'test', 'pool']) sha(d[k], `job.data.${k}`);
    }
    const s = obj(o.spec, 'job.spec');
    only(s, ['profile', 'attack', 'defense', 'architecture', 'seed', 'options'], 'job.spec (given poison files do not travel on the queue)');
    // The matrix config's own checks: known names, typed options, settings in range.
    let cells: ResolvedCell[];
    try {
      cells = expandMatrix(
        parseMatrixConfig(
          { name: 'job', profile: s.profile, cleanTwins: false, groups: [{ attacks: [s.attack], defenses: [s.defense], architectures: [s.architecture], seeds: [s.seed], options: s.options ?? {} }] },
          'job.spec',
        ),
      );
    } catch (e) {
      throw new JobRejected((e as Error).message);
    }
    const cell = cells[0]!;
    if (cells.length !== 1 || cell.hash !== o.hash) throw new JobRejected(`job.spec resolves to cell ${cell.hash}, not ${String(o.hash)}: the coordinator and this worker run different eclipse versions, or the job was altered`);
    return { job: o as unknown as CellJob, cell };
  }
  throw new JobRejected(`unknown job kind ${JSON.stringify(o.kind)} (cell, purify-shard, noop)`);
}
