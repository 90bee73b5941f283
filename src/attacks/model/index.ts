// Shared machinery of the model-based availability attacks (issue 9): PGD on a perturbation,
// the attack objectives, differentiable augmentation for EOT, and checkpoint surrogates.
export * from './pgd.js';
export * from './losses.js';
export * from './augment.js';
export * from './surrogate.js';
export * from './generate.js';
export * from './minmin.js';
export * from './attack.js';
export * from './adversarial.js';
