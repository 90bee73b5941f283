// Objectives of the model-based availability attacks, on logits or penultimate features.
// Each returns a scalar to be used with pgd(): error-maximising attacks ascend, error-minimising
// (EM) and targeted ones (TAP, SEP) descend. Labels are int64 class indices [N].
import { F, Tensor, noGrad, tidy } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';

/** Mean cross-entropy to the true labels (EM descends it, error-maximising noise ascends it). */
export function untargetedCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  return F.crossEntropy(logits, labels);
}

/** Mean cross-entropy to chosen target classes; descend it to pull images to the targets. */
export function targetedCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  return F.crossEntropy(logits, targets);
}

/** The recipes' fixed class permutation (y + shift) mod classes: TAP shift 1, SEP shift 5. */
export function shiftedTargets(labels: Tensor, classes: number, shift: number): Tensor {
  if (!Number.isInteger(shift) || !Number.isInteger(classes) || classes < 1) throw new Error(`shiftedTargets: integer shift and classes >= 1 needed (got ${shift}, ${classes})`);
  return tidy(() => noGrad(() => labels.add(((shift % classes) + classes) % classes).remainder(classes)));
}

/** A model with a penultimate-feature accessor (the ResNets have one). */
export interface FeatureModel extends Module {
  features(x: Tensor): Tensor;
}

export function hasFeatures(m: Module): m is FeatureModel {
  return typeof (m as unknown as Partial<FeatureModel>).features === 'function';
}

/** The model's penultimate features [N, D]; a clear error for models without the accessor. */
export function penultimateFeatures(model: Module, x: Tensor): Tensor {
  if (!hasFeatures(model)) throw new Error(`${model.constructor.name} has no features(x) accessor: feature-space attacks need a ResNet surrogate`);
  return model.features(x);
}

/** Mean squared error between features [N, D] and target features [N, D] (SEP-FA aligns to them: descend). */
export function featureMse(features: Tensor, target: Tensor): Tensor {
  return F.mseLoss(features, target);
}

/**
 * EntF-push: minus the mean squared distance of each feature to its own class centroid;
 * descending it pushes features away from the centroid. centroids [K, D], labels [N].
 */
export function centroidPushLoss(features: Tensor, centroids: Tensor, labels: Tensor): Tensor {
  return tidy(() => F.mseLoss(features, centroids.indexSelect(0, labels)).neg());
}

/**
 * Mean feature of each class from features [N, D] and labels [N] (no gradient). A class
 * without any sample is an error: its centroid would be undefined.
 */
export function classCentroids(features: Tensor, labels: Tensor, classes: number): Tensor {
  return tidy(() =>
    noGrad(() => {
      const onehot = F.oneHot(labels, classes).to(features.dtype); // [N, K]
      const counts = onehot.sum(0); // [K]
      const empty = (counts.data() as Float32Array | Float64Array).findIndex((c) => c === 0);
      if (empty >= 0) throw new Error(`classCentroids: class ${empty} has no sample`);
      return onehot.T.matmul(features.detach()).div(counts.unsqueeze(1));
    }),
  );
}
