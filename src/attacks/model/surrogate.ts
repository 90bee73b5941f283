// A surrogate classifier for model-based attacks: any `eclipse train` checkpoint, rebuilt from
// its metadata (model, width), checked against the dataset's class count, frozen (parameters
// do not require grad, so a backward pass computes the input gradient only) and in eval mode
// (the recipes run their PGD with frozen BatchNorm statistics).
import { Tensor, type Device } from '../../engine/index.js';
import { loadCheckpoint } from '../../nn/checkpoint.js';
import { createClassifier, isClassifierName, CLASSIFIERS, type ClassifierName } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { readSafetensors } from '../../io/safetensors.js';

export interface Surrogate {
  readonly path: string;
  readonly model: Module;
  readonly architecture: ClassifierName;
  readonly width: number;
  readonly classes: number;
  /** logits of x [N, C, H, W] */
  logits(x: Tensor): Tensor;
  /** frees the model's tensors */
  dispose(): void;
}

export interface SurrogateOptions {
  /** the dataset's class count: the checkpoint must classify exactly this many */
  classes: number;
  device?: Device;
}

/** The output count of the classifier head: the first dimension of the last 2-D parameter. */
function headName(model: Module): string {
  const linear = model.namedParameters().filter(([, t]) => t.ndim === 2);
  const last = linear[linear.length - 1];
  if (last === undefined) throw new Error(`${model.constructor.name} has no linear classifier head`);
  return last[0];
}

/** Load a trained classifier checkpoint as a frozen, eval-mode surrogate. */
export async function loadSurrogate(path: string, o: SurrogateOptions): Promise<Surrogate> {
  const { tensors, metadata } = await readSafetensors(path);
  const arch = metadata.model;
  if (arch === undefined || !isClassifierName(arch))
    throw new Error(`${path}: not a classifier checkpoint from \`eclipse train\` (metadata "model" is ${arch === undefined ? 'missing' : `"${arch}"`}; expected one of ${CLASSIFIERS.join(', ')})`);
  const width = Number(metadata.width ?? '64');
  if (!Number.isInteger(width) || width < 1) throw new Error(`${path}: metadata "width" is not a positive integer (${metadata.width})`);
  // Build on the CPU with the dataset's class count, compare the head before loading, so that
  // a checkpoint for another dataset fails with the counts rather than a shape list.
  const model = createClassifier(arch, { width, numClasses: o.classes });
  try {
    const head = headName(model);
    const stored = tensors[head];
    if (stored !== undefined && stored.shape[0] !== o.classes)
      throw new Error(`${path}: the surrogate classifies ${stored.shape[0]} classes but the dataset has ${o.classes} (${arch} width ${width}, head "${head}")`);
    await loadCheckpoint(path, { model });
    if (o.device !== undefined && o.device !== 'cpu') model.to(o.device);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  for (const p of model.parameters()) p.requiresGrad_(false);
  return {
    path,
    model,
    architecture: arch,
    width,
    classes: o.classes,
    logits: (x: Tensor): Tensor => model.forward(x),
    dispose: (): void => model.dispose(),
  };
}
