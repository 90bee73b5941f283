// The batched, resumable generation driver of the model-based attacks (issue 9).
//
// It walks the dataset in fixed batches of `batchSize` consecutive images, gives each batch its
// own Generator seeded from (seed, batch index) only, so that a batch's perturbation does not
// depend on which process (or which resumed run) computed it, and calls the attack's
// `perturbBatch`. After every finished batch the exact float32 perturbation of all finished
// batches goes to one safetensors checkpoint (written atomically), stamped with a key over the
// attack's settings, the seed, the batch size and a digest of the data. A re-run with the same
// key continues after the last finished batch; any other key starts over.
//
// The trainer has its own epoch checkpoints and io/stage.ts stamps whole stages; this is
// the per-batch counterpart for perturbation generation, so every model-based attack
// (EM, TAP, REM, SEP, EFP, ADP) resumes the same way.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

import { F, Generator, Tensor, noGrad, tidy, type Device, type RunContext } from '../../engine/index.js';
import { datasetDigest, type ImageDataset } from '../../data/dataset.js';
import { Rng } from '../../data/rng.js';
import { writeSafetensors } from '../../io/safetensors.js';
import { Progress } from '../../io/progress.js';
import { JobInterrupted, readStampedCheckpoint } from '../../io/resume.js';

/** What perturbBatch gets for one batch. Tensors are owned by the driver (do not dispose). */
export interface PerturbBatchInput {
  /** index of the batch's first image in the dataset */
  start: number;
  /** images in this batch (the last batch may be short) */
  count: number;
  /** the batch index */
  batch: number;
  /** clean images in [0,1], float32 [count, 3, H, W], on the device */
  x: Tensor;
  /** class indices, int64 [count], on the device */
  labels: Tensor;
  /** seeded by (seed, batch) only: the sole source of randomness an attack may use */
  generator: Generator;
}

/**
 * Compute the perturbation of one batch: a float tensor [count, 3, H, W] in [0,1] pixel units,
 * owned by the driver afterwards (it is read and disposed). Optional extra numbers (e.g. the
 * mean target loss) are shown in the progress line.
 */
export type PerturbBatch = (input: PerturbBatchInput) => { delta: Tensor; fields?: Record<string, string> };

export interface BatchDone {
  batch: number;
  batches: number;
  /** images finished so far, including those of earlier runs */
  done: number;
  fields: Record<string, string>;
}

export interface GenerateOptions extends RunContext {
  /** everything besides the data and seed that decides the output (attack params, surrogate id) */
  key: unknown;
  seed: number;
  /** images per batch; part of the key (it decides the random streams) */
  batchSize: number;
  /** the checkpoint file (.safetensors); its folder is created */
  checkpoint: string;
  device?: Device;
  /** progress label, e.g. "tap" */
  label?: string;
  /** called after each batch's checkpoint is written */
  onBatch?: (b: BatchDone) => void;
}

export interface GenerateResult {
  /** the perturbation of every image, [n, 3, H, W] CHW planar, [0,1] pixel units */
  delta: Float32Array;
  /** batches that were already in the checkpoint when this run started */
  resumedBatches: number;
  batches: number;
  /** seconds this run spent generating (resumed batches excluded) */
  seconds: number;
}

/** Raised when generation was stopped by its signal; re-running with the same key resumes. */
export class GenerationInterrupted extends JobInterrupted {}

/** Random stream id of the driver's per-batch generators (attacks' own streams are 1..). */
const BATCH_STREAM = 0x6e6;

/** Seed of batch `batch`'s Generator: a function of (seed, batch) only. */
export function batchSeed(seed: number, batch: number): number {
  const r = new Rng(seed, BATCH_STREAM, batch);
  // 53 bits from two draws: distinct streams for distinct batches, within Number's exact range.
  return (r.uint32() >>> 5) * 67108864 + (r.uint32() >>> 6);
}

/** The checkpoint's stamp: attack key, seed, batch size and data digest. */
function runKey(ds: ImageDataset, o: GenerateOptions): string {
  return JSON.stringify({ key: o.key, seed: o.seed, batchSize: o.batchSize, data: datasetDigest(ds) });
}

/** Finished batches in `file` when it belongs to this run, else 0 (with the reason logged). */
async function readResume(file: string, key: string, per: number, out: Float32Array, log: (s: string) => void): Promise<number> {
  const contents = await readStampedCheckpoint(file, key, log, { detail: true });
  if (contents === null) return 0;
  const t = contents.tensors.delta;
  const batches = Number(contents.metadata.batches_done);
  const images = Number(contents.metadata.images_done);
  if (t === undefined || t.dtype !== 'F32' || !Number.isInteger(batches) || t.data.length !== images * per || images > out.length / per) {
    log(`${file}: inconsistent checkpoint; starting over`);
    return 0;
  }
  out.set(t.data, 0);
  return batches;
}

/**
 * Generate the perturbation of every image of `ds` batch by batch with `perturbBatch`,
 * resuming from `o.checkpoint` when it holds a run with the same key.
 */
export async function generatePerturbations(ds: ImageDataset, perturbBatch: PerturbBatch, o: GenerateOptions): Promise<GenerateResult> {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`generation batch size must be a positive integer, got ${o.batchSize}`);
  const log = o.log ?? (() => undefined);
  const device: Device = o.device ?? 'cpu';
  const per = 3 * ds.height * ds.width;
  const batches = Math.ceil(ds.n / o.batchSize);
  const delta = new Float32Array(ds.n * per);
  const key = runKey(ds, o);
  await mkdir(dirname(o.checkpoint), { recursive: true });
  const resumed = await readResume(o.checkpoint, key, per, delta, log);
  if (resumed > 0) log(`resuming after batch ${resumed}/${batches} from ${o.checkpoint}`);

  const progress = new Progress({ label: o.label ?? 'generate', total: ds.n, unit: 'img', quiet: o.quiet });
  progress.skip(Math.min(ds.n, resumed * o.batchSize));
  const t0 = performance.now();
  for (let b = resumed; b < batches; b++) {
    const start = b * o.batchSize;
    const count = Math.min(o.batchSize, ds.n - start);
    const generator = new Generator(batchSeed(o.seed, b));
    const fields = tidy(() => {
      const x = noGrad(() =>
        F.tensor(ds.images.subarray(start * per, (start + count) * per), [count, 3, ds.height, ds.width], { device }).to('float32').div(255),
      );
      const labels = noGrad(() => F.tensor(ds.labels.subarray(start, start + count), [count], { device }).to('int64'));
      const r = perturbBatch({ start, count, batch: b, x, labels, generator });
      const d = noGrad(() => r.delta.detach().to('float32').to('cpu').contiguous());
      if (d.numel !== count * per) throw new Error(`perturbBatch returned shape [${r.delta.shape.join(', ')}] for a batch of ${count} images`);
      delta.set(d.data() as Float32Array, start * per);
      return r.fields ?? {};
    });
    generator.dispose();
    const done = start + count;
    // The finished prefix only: its bytes are exactly what a later run would have computed.
    await writeSafetensors(
      o.checkpoint,
      { delta: { dtype: 'F32', shape: [done, 3, ds.height, ds.width], data: delta.subarray(0, done * per) } },
      { run_key: key, batches_done: String(b + 1), images_done: String(done), batches: String(batches) },
    );
    progress.tick(count, { batch: `${b + 1}/${batches}`, ...fields });
    o.onBatch?.({ batch: b + 1, batches, done, fields });
    if (o.signal?.aborted && b + 1 < batches) {
      progress.log(`stopped after batch ${b + 1}/${batches}; run the same command again to resume`);
      throw new GenerationInterrupted(`generation interrupted after batch ${b + 1}/${batches} (checkpoint ${o.checkpoint})`);
    }
  }
  progress.finish();
  return { delta, resumedBatches: resumed, batches, seconds: (performance.now() - t0) / 1000 };
}
