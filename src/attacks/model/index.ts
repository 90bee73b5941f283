// Shared machinery of the model-based availability attacks (issue 9): PGD on a perturbation,
// the attack objectives, differentiable augmentation for EOT, and checkpoint surrogates. PGD and
// the AT adversary live in training/ (adversarial training uses them too) and are re-exported.
export * from '../../training/pgd.js';
export * from './losses.js';
export * from './augment.js';
export * from './surrogate.js';
export * from './generate.js';
export * from './minmin.js';
export * from './attack.js';
export * from '../../training/adversarial.js';
