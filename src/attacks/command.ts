// Library side of `eclipse poison`: read a clean dataset file, poison it, write the result
// atomically and summarise what was done (the CLI only parses flags and prints the summary).

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { classCounts } from '../data/dataset.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { ensureWritableDir } from '../io/atomic.js';
import { psnr, type PsnrReport } from '../metrics/psnr.js';
import { checkSeed } from './base.js';
import { describeMakeup, stampMakeup } from './makeup.js';
import { createAttack, type PoisonDatasetOptions } from './registry.js';
import { describeBound, fmt, type PoisonResult } from './types.js';
import { blasLibrary, getNumThreads, type Device, type RunContext } from '../engine/index.js';

export interface PoisonFileOptions extends PoisonDatasetOptions, RunContext {
  /** Attack name: urp | lsp | ar | tap. */
  attack: string;
  /** Clean dataset (.safetensors written by `eclipse data import`). */
  input: string;
  /** Where to write the poisoned dataset (.safetensors). */
  output: string;
  /** Replace an existing output file (default false: error). */
  overwrite?: boolean;
  /** Model-based attacks: folder of their resumable state (default OUTPUT.work next to the output). */
  workDir?: string;
  device?: Device;
}

export interface PoisonFileResult {
  result: PoisonResult;
  /** PSNR of the poisoned set against the clean input. */
  psnr: PsnrReport;
  /** Multi-line human summary (also sent to `log`). */
  summary: string;
  output: string;
}

/** Load `input`, poison it, save to `output` (atomic), and report the perturbation. */
export async function poisonFile(o: PoisonFileOptions): Promise<PoisonFileResult> {
  const log = o.log ?? (() => undefined);
  const input = path.resolve(o.input);
  const output = path.resolve(o.output);
  if (input === output) throw new Error(`poison: --out must differ from the input file (${input})`);
  const exists = await fsp.stat(output).then(() => true, () => false);
  if (exists && !o.overwrite) throw new Error(`poison: ${output} already exists (pass --overwrite to replace it)`);
  // Fail on an unusable output directory or bad options before spending time poisoning.
  await ensureWritableDir(path.dirname(output), { hint: 'pass --out <file> in a writable directory' });
  const { attack: name, input: _i, output: _o, overwrite: _w, log: _l, workDir: _d, device: _v, quiet: _q, signal: _s, seed, bounds, allowRepoison, ...rest } = o;
  checkSeed(seed, 'poison');
  const attack = createAttack(name, rest);
  const clean = await loadDataset(input);
  log(`poison: ${attack.name} on ${input} (${clean.n} images ${clean.height}x${clean.width}, ${clean.classes.length} classes), seed ${seed}`);
  const t0 = Date.now();
  if (attack.prepare !== undefined) {
    const workDir = path.resolve(o.workDir ?? `${output}.work`);
    log(`poison: ${attack.name} keeps its resumable state in ${workDir}`);
    await attack.prepare(clean, seed, { workDir, device: o.device, quiet: o.quiet, log, signal: o.signal });
  }
  const poisoned = attack.poison(clean, seed, { bounds, allowRepoison });
  const poisonSeconds = (Date.now() - t0) / 1000;
  // The make-up (makeup.ts) goes into the metadata only: the pixels are the attack's.
  const threads = getNumThreads();
  log(`poison: measuring the make-up (L2, high-frequency and class-wise shares, scan score at seed 0; ${threads} torch thread(s), ${blasLibrary().kind} BLAS)`);
  const { dataset, makeup } = stampMakeup(clean, poisoned.dataset, { device: o.device, threads, log });
  const result: PoisonResult = { ...poisoned, dataset };
  const report = psnr(clean, result.dataset);
  await saveDataset(result.dataset, output, { hint: 'pass --out <file> in a writable directory' });
  const s = result.stats;
  const counts = classCounts(clean);
  const lines = [
    `poisoned ${clean.n} images with ${attack.name} (${attack.recipe}) in ${poisonSeconds.toFixed(1)} s`,
    `  bound ${describeBound(attack.bound)}, quantization ${attack.quantization}, seed ${seed}`,
    `  applied perturbation: L_inf max ${fmt(s.linfMax)}/255 mean ${fmt(s.linfMean)}/255; L2 mean ${fmt(s.l2Mean)} max ${fmt(s.l2Max)} ([0,1] units)`,
    `  generated (before clamp/8-bit): L_inf max ${fmt(result.nominal.linfMax)}/255; L2 mean ${fmt(result.nominal.l2Mean)}`,
    `  clamped pixels ${(100 * result.clampedFraction).toFixed(2)}%; PSNR vs clean ${fmt(report.mean)} dB (pooled ${fmt(report.pooled)} dB)`,
    `  bounds checked: ${result.checkedBounds.map(describeBound).join('; ')}`,
    `  ${describeMakeup(makeup)}; ${threads} torch thread(s)`,
    `  classes: ${clean.classes.map((c, k) => `${c} ${counts[k]}`).join(', ')}`,
    `  wrote ${output}`,
  ];
  const summary = lines.join('\n');
  log(summary);
  return { result, psnr: report, summary, output };
}
