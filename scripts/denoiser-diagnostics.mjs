#!/usr/bin/env node
// How good is a trained denoiser at t*? PSNR against the clean originals of: the poisoned
// images, x_{t*} (rescaled by 1/sqrt(abar)), the one-step x0 prediction E[x0 | x_{t*}] (the
// network's MMSE estimate), and the reverse chain (a posterior sample: about twice the MMSE's
// squared error for a perfect model), for the full chain and respaced chains; and how much of
// the poison's perturbation each output still carries.
//   node scripts/denoiser-diagnostics.mjs CHECKPOINT [N=200] [attack=ar] [steps=10,100]
import { createAttack } from '../dist/src/attacks/index.js';
import { subset } from '../dist/src/data/dataset.js';
import { loadDataset } from '../dist/src/data/store.js';
import { loadDenoiser, purificationDiffusion } from '../dist/src/defenses/purify.js';
import { tStarIndex } from '../dist/src/diffusion/schedule.js';
import { fromModelScale, toModelScale } from '../dist/src/diffusion/train.js';
import { F, Generator, noGrad, setNumThreads, tidy } from '../dist/src/engine/index.js';
import { psnr } from '../dist/src/metrics/index.js';

const [checkpoint, nArg = '200', attack = 'ar', stepsArg = '10,100'] = process.argv.slice(2);
setNumThreads(2);
const tStar = Number(process.env.T_STAR ?? 100);
const all = await loadDataset('data/cifar10-mini/train.safetensors');
const clean = subset(all, Int32Array.from({ length: Number(nArg) }, (_, i) => i));
const poisoned = attack === 'none' ? clean : createAttack(attack).poison(clean, 0).dataset;
const { unet, steps, meta } = await loadDenoiser(checkpoint, 'cpu');
const n = clean.n;
const x0 = toModelScale(clean.images, n, 32, 32, 'cpu');
const xp = toModelScale(poisoned.images, n, 32, 32, 'cpu');
// mean per-image PSNR against the clean images, after 8-bit rounding (as the purified files hold)
const db = (x) => +psnr(clean, { ...clean, images: fromModelScale(x) }).mean.toFixed(2);
// share of the poison delta left in an output: <out - x0, delta> / <delta, delta> per image
// (1: all of it, 0: none), averaged
const kept = (x) => tidy(() => {
  const d = xp.sub(x0).flatten(1);
  const r = x.sub(x0).flatten(1).mul(d).sum(1).div(d.pow(2).sum(1).add(1e-12));
  const v = r.data();
  let s = 0; for (const k of v) s += k;
  return +(s / v.length).toFixed(3);
});
const rows = { poisoned: db(xp) };
const full = purificationDiffusion(steps, tStar, 0).diffusion;
noGrad(() => {
  const gen = new Generator(0);
  const noise = F.randn(xp.shape, { generator: gen });
  const i = tStarIndex(tStar, full.numTimesteps);
  const t = full.timesteps(i, n, 'cpu');
  const xt = full.qSample(xp, t, noise);
  const abar = full.schedule.alphasCumprod[i];
  rows.noised = db(tidy(() => xt.div(Math.sqrt(abar))));
  const p = full.pMeanVariance(unet, xt, t);
  rows.one_step_x0 = db(p.predXStart);
  rows.one_step_x0_poison_kept = kept(p.predXStart);
  for (const s of stepsArg.split(',').map(Number)) {
    const { diffusion, reverseSteps } = purificationDiffusion(steps, tStar, s);
    const t0 = Date.now();
    const out = diffusion.purify(unet, xp, reverseSteps, { noise, generator: new Generator(1) });
    rows[`chain_${s || tStar}`] = db(out);
    rows[`chain_${s || tStar}_poison_kept`] = kept(out);
    rows[`chain_${s || tStar}_s`] = (Date.now() - t0) / 1000;
  }
});
console.log(JSON.stringify({ checkpoint, attack, n, tStar, iteration: meta.iteration, ...rows }));
