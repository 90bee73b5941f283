// The main job: poison CIFAR-10 with AR (or any attack), then train four classifiers (clean; poisoned without
// defence; poisoned with the compensation module only; poisoned with full ECLIPSE), each for
// several seeds; print the table and write an HTML report with the paper's Fig. 4 grid.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { Device, RunContext } from '../engine/index.js';
import { ATTACKS, createAttack, type AttackName } from '../attacks/index.js';
import { datasetDigest, imageView, type ImageDataset } from '../data/dataset.js';
import { SPARSE_POOL_PER_CLASS, prepareDataDir } from '../data/prepare.js';
import { loadDataset, saveDataset } from '../data/store.js';
import { noisedImage } from '../diffusion/schedule.js';
import { atomicWriteFile } from '../io/atomic.js';
import { psnr } from '../metrics/psnr.js';
import type { ClassifierRecipe, ProfileName } from '../profiles.js';
import type { EclipseProfile } from '../eclipse-settings.js';
import { gridPng } from '../io/grid.js';
import { mean, pct, renderReport, type ReportRow } from './demo-page.js';
import { denoiserStage, purifyStage } from '../defenses/eclipse.js';
import { classifierStage } from './defend.js';
import { stage, type StageLog } from '../io/stage.js';

export interface DemoOptions extends RunContext {
  profile: ProfileName;
  classifier: ClassifierRecipe;
  eclipse: EclipseProfile;
  attack: string;
  seeds: number[];
  outDir: string;
  /** CIFAR-10 source (default: $ECLIPSE_CIFAR10 / shared copy) */
  source?: string;
  dataDir: string;
  device?: Device;
  log: StageLog;
}

export interface DemoResult {
  rows: ReportRow[];
  psnrPoisoned: number;
  psnrPurified: number;
  minutes: number;
  report: string;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const c = o.classifier;
  const data = await prepareDataDir(
    o.dataDir,
    { source: o.source, trainPerClass: c.trainPerClass, testPerClass: c.testPerClass, sparsePoolPerClass: Math.max(o.eclipse.sparse.perClass, SPARSE_POOL_PER_CLASS), seed: 0 },
    o.log,
  );
  await mkdir(o.outDir, { recursive: true }); // once the data is there: a bad source leaves no empty run folder
  const clean = data.train;

  // 1. Poison the training set (seeded). Model-based attacks run at the demo's profile and keep
  // their resumable state (surrogate, generation checkpoints) in OUT/attack-work.
  const poisonedPath = join(o.outDir, `poisoned-${o.attack}.safetensors`);
  const attack = createAttack(o.attack, ATTACKS[o.attack as AttackName]?.modelBased ? { profile: o.profile } : {});
  const poisonKey = { attack: o.attack, data: datasetDigest(clean), params: attack.params };
  await stage(
    o.outDir,
    'poison',
    poisonKey,
    async () => {
      await attack.prepare?.(clean, 0, { workDir: join(o.outDir, 'attack-work'), device: o.device, quiet: o.quiet, log: o.log, signal: o.signal });
      const res = attack.poison(clean, 0);
      await saveDataset(res.dataset, poisonedPath);
      o.log(`poisoned ${clean.n} training images with ${o.attack}: L2 mean ${res.stats.l2Mean.toFixed(3)}, L_inf max ${res.stats.linfMax}/255`);
    },
    o.log,
  );
  const poisoned = await loadDataset(poisonedPath);

  // 2-3. ECLIPSE's denoiser on the sparse set, then purification of the poisoned set.
  const common = { train: poisoned, trainKey: JSON.stringify(poisonKey), sparsePool: data.sparsePool, eclipse: o.eclipse, seed: 0, outDir: o.outDir, device: o.device, quiet: o.quiet, log: o.log, signal: o.signal };
  const den = await denoiserStage(common);
  const pur = await purifyStage(common, den);

  // 4. The four classifiers, each for every seed.
  const comp = o.eclipse.compensation;
  const runs: { name: string; description: string; data: ImageDataset; key: unknown; comp: typeof comp | null }[] = [
    { name: 'clean', description: 'clean training images, no defence', data: clean, key: 'clean', comp: null },
    { name: 'poisoned', description: `${o.attack.toUpperCase()}-poisoned, no defence`, data: poisoned, key: poisonKey, comp: null },
    { name: 'compensation only', description: `poisoned + compensation module (p ${comp.p}, sigma ${comp.sigma})`, data: poisoned, key: poisonKey, comp },
    { name: 'ECLIPSE', description: 'poisoned, purified by the sparse-set denoiser + compensation module', data: pur.purified, key: pur.key, comp },
  ];
  const rows: ReportRow[] = [];
  for (const r of runs) {
    const accs: number[] = [];
    for (const seed of o.seeds) {
      const dir = join(o.outDir, `${r.name.replace(/ /g, '-')}-seed${seed}`);
      o.log(`classifier "${r.name}", seed ${seed}`);
      const res = await classifierStage(r.data, r.key, data.test, c, { comp: r.comp }, seed, dir, o);
      accs.push(res.testAcc);
    }
    rows.push({ name: r.name, description: r.description, accs });
  }

  // 5. Report: PSNR against the clean originals, the Fig. 4 grid, the table.
  const pPois = psnr(clean, poisoned).mean;
  const pPur = psnr(clean, pur.purified).mean;
  const cols = Array.from({ length: clean.classes.length }, (_, k) => clean.labels.indexOf(k)).filter((i) => i >= 0);
  const pick = (ds: ImageDataset): Uint8Array[] => cols.map((i) => imageView(ds, i));
  const gridRows = [pick(clean), pick(poisoned), pick(poisoned).map((u, j) => noisedImage(u, o.eclipse.denoiser.steps, o.eclipse.purify.tStar, j)), pick(pur.purified)];
  const png = await gridPng(gridRows, clean.height, clean.width, { scale: 3 });
  await atomicWriteFile(join(o.outDir, 'grid.png'), png);
  const minutes = (performance.now() - t0) / 60000;
  const e = o.eclipse;
  const html = renderReport({
    title: `ECLIPSE demo: ${o.attack.toUpperCase()} poisoning on CIFAR-10 (${o.profile} profile)`,
    subtitle:
      `${clean.n} training images, ${data.test.n} clean test images, ${c.model} width ${c.width}, ${c.epochs} epochs; ` +
      `mean over seeds ${o.seeds.join(', ')}. Total wall time ${minutes.toFixed(1)} min.`,
    rows,
    facts: [
      ['PSNR poisoned vs clean', `${pPois.toFixed(2)} dB`],
      ['PSNR purified vs clean', `${pPur.toFixed(2)} dB`],
      ['sparse set', `${e.sparse.perClass * clean.classes.length} clean images, replicated M = ${e.sparse.replication}`],
      ['denoiser', `U-Net ${e.denoiser.unet.modelChannels} ch x ${e.denoiser.unet.numResBlocks} blocks, T = ${e.denoiser.steps}, ${e.denoiser.iterations} iterations` + (e.denoiser.trainMaxT ? `, trained on t <= ${e.denoiser.trainMaxT} only` : '')],
      ['purification', `t* = ${e.purify.tStar}, ${e.purify.respacedSteps ? `${e.purify.respacedSteps} respaced reverse steps` : 'full reverse chain'}`],
    ],
    grid: { png, caption: 'One training image per class. Rows: clean, poisoned, poisoned noised to t*, purified (the paper\'s Fig. 4).' },
    notes: [
      e.denoiser.trainMaxT || e.purify.respacedSteps
        ? 'This profile uses the named speed options (denoiser trained only on t <= t*, respaced reverse chain, small U-Net) so it fits a 2-core CPU; the paper profile runs the faithful settings on a GPU.'
        : 'Faithful settings (paper profile).',
      'The sparse set is drawn from CIFAR-10 test images that are never used for evaluation.',
    ],
  });
  const report = join(o.outDir, 'report.html');
  await atomicWriteFile(report, html);
  await atomicWriteFile(join(o.outDir, 'results.json'), JSON.stringify({ rows, psnrPoisoned: pPois, psnrPurified: pPur, minutes, seeds: o.seeds, classifier: c, eclipse: e }, null, 2) + '\n');
  return { rows, psnrPoisoned: pPois, psnrPurified: pPur, minutes, report };
}

export function formatTable(rows: ReportRow[]): string {
  const lines = rows.map((r) => `${r.name.padEnd(18)} ${r.accs.map(pct).map((s) => s.padStart(8)).join(' ')}   mean ${pct(mean(r.accs)).padStart(7)}`);
  return ['run                test accuracy per seed', ...lines].join('\n');
}
