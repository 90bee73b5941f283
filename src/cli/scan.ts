// eclipse scan: is this training set poisoned?
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

import type { ImageDataset } from '../data/dataset.js';
import { loadImageFolder } from '../data/imagefolder.js';
import { NoLabelsError, importPoisons } from '../attacks/imported.js';
import { loadDataset } from '../data/store.js';
import { atomicWriteFile } from '../io/atomic.js';
import { formatStat, scanDataset, type ScanResult } from '../scan/scan.js';
import { DETECTORS, detectPoison, type DetectorName, type DetectorResult } from '../scan/simple-networks.js';
import { COMMON_HELP, UsageError, int, oneOf, parse, str, type Flags } from './args.js';
import { runtimeFrom } from './train.js';

export const SCAN_HELP = `eclipse scan DATA [--pool TRUSTED] [--out DIR] [--detector NAME]

Is this training set poisoned? Linear probes on raw pixels and on a high-pass residual are
cross-fitted on DATA; availability poisons make a set far more separable than clean images are.
Three counts need no probe: high-frequency energy (added noise), a lone exact colour at one pixel
in a share of a class (one-pixel shortcuts such as OPS) and how smooth the images are (blurs such
as CUDA). Prints a verdict (poisoned / clean / unsure), the score (z against clean CIFAR-10 subsets of the
same size; poisoned from 6, clean below 4), the classes that stand out and the estimated
poisoned share; writes OUT/scan.json and OUT/scan.html. Under a minute for 5,000 images here.
  DATA               .safetensors (eclipse data import / poison), an image folder or .tar.gz
                     (root/<class>/*.png|jpg), or .npy/.npz poisoned images with their labels
  --pool FILE        the defender's trusted clean images (same classes and size): adds the
                     transfer test, and lets data unlike CIFAR-10 be judged
  --labels FILE      labels for a .npy/.npz without them
  --resize N         image folders of any size: short side to N, centre crop
  --out DIR          default: beside DATA, <name>-scan/
  --detector NAME    scan (default: the probes above), or the published detector of Zhu et al.
                     (AAAI 2024) as a baseline: simple-linear / simple-2nn (a linear model or a
                     two-layer network fitted on 80% of DATA; poisoned when its accuracy on the
                     other 20% passes 0.7) or bias-shift (a ResNet-18 trained on images shifted
                     by +0.5, validated unshifted, same bound). --profile paper runs their
                     published recipe (100 epochs), other profiles the cheaper mini variant;
                     writes OUT/<detector>.json, and a stopped run resumes from OUT/<detector>-run/
${COMMON_HELP}`;

/** Any dataset the data commands read. */
export async function readAnyDataset(path: string, f: Flags): Promise<ImageDataset> {
  if (!existsSync(path)) throw new Error(`${path} does not exist: give a dataset (.safetensors), an image folder or .tar.gz, or .npy/.npz images`);
  if (statSync(path).isDirectory() || /\.(tar\.gz|tgz|tar)$/.test(path)) return loadImageFolder(path, { resize: int(f, 'resize', 1) });
  if (/\.(npy|npz|pt|pth)$/.test(path)) {
    try {
      return (await importPoisons({ file: path, kind: 'images', labelsFile: str(f, 'labels') })).dataset;
    } catch (e) {
      // The library's fix names a clean set, which scan does not take: its fix is --labels.
      if (e instanceof NoLabelsError) throw new Error(`${e.file}: ${e.problem}; pass --labels FILE (a .npy of one integer label per image)`, { cause: e });
      throw e;
    }
  }
  return loadDataset(path);
}

export function formatScan(r: ScanResult): string {
  const lines = [`verdict: ${r.verdict}${Number.isFinite(r.score) ? ` (score ${r.score.toFixed(1)})` : ''}`, ...r.reasons.map((x) => `  - ${x}`)];
  for (const e of r.evidence) lines.push(`  ${e.stat.padEnd(20)} ${formatStat(e.stat, e.value).padStart(7)}  clean ${formatStat(e.stat, e.clean.mean)} ± ${formatStat(e.stat, e.clean.std)}  z ${e.z.toFixed(1)}`);
  const flagged = r.classes.filter((c) => c.flagged).map((c) => c.name);
  if (r.classes.length) lines.push(`  classes that stand out: ${flagged.length ? flagged.join(', ') : 'none'}`);
  if (Number.isFinite(r.poisonedShare.estimate)) lines.push(`  estimated poisoned share: ${(100 * r.poisonedShare.estimate).toFixed(0)}%`);
  return lines.join('\n');
}

export async function writeScan(r: ScanResult, dir: string, name: string): Promise<void> {
  const { scanPage } = await import('../scan/page.js');
  await mkdir(dir, { recursive: true });
  await atomicWriteFile(join(dir, 'scan.json'), JSON.stringify(r, null, 2) + '\n');
  await atomicWriteFile(join(dir, 'scan.html'), await scanPage(r, name));
}

export function formatDetection(r: DetectorResult): string {
  const c = r.recipe.classifier;
  return [
    `verdict: ${r.verdict} (${r.detector}, ${r.variant} recipe: validation accuracy ${(100 * r.validationAcc).toFixed(1)}% against the bound ${(100 * r.bound).toFixed(0)}%)`,
    `  - ${c.model}${c.model === 'linear' ? '' : ` width ${c.width}`}, ${c.epochs} epochs on ${r.n - Math.round(r.n * r.recipe.validationShare)} of ${r.n} images${r.recipe.shift ? `, shifted by ${r.recipe.shift}` : ''}; training accuracy ${(100 * r.trainAcc).toFixed(1)}%; ${r.seconds.toFixed(0)} s`,
  ].join('\n');
}

export async function scanCommand(argv: string[]): Promise<void> {
  const { flags, positionals } = parse(argv, { pool: { type: 'string' }, labels: { type: 'string' }, resize: { type: 'string' }, out: { type: 'string' }, detector: { type: 'string', check: oneOf(['scan', ...DETECTORS]) } }, 1);
  if (flags.help) return console.log(SCAN_HELP);
  const path = positionals[0];
  if (!path) throw new UsageError('give the dataset to scan: eclipse scan DATA');
  const rt = runtimeFrom(flags);
  // The output is checked before the data is read and scanned: a file in its place fails at once.
  const out = str(flags, 'out') ?? `${path.replace(/\.(safetensors|npy|npz|pt|pth|tar\.gz|tgz)$/, '').replace(/\/$/, '')}-scan`;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new Error(`the scan's output folder ${out} is a file: give another --out`);
  const detector = str(flags, 'detector') ?? 'scan';
  if (detector !== 'scan' && str(flags, 'pool')) throw new UsageError(`--pool is the scan's; the ${detector} detector uses DATA alone: drop --pool or --detector`);
  const data = await readAnyDataset(path, flags);
  if (detector !== 'scan') {
    const name = detector as DetectorName;
    await mkdir(out, { recursive: true });
    const r = await detectPoison(data, name, { variant: flags.profile === 'paper' ? 'published' : 'mini', seed: rt.seed, device: rt.device, threads: rt.threads, quiet: !!flags.quiet, workDir: join(out, `${name}-run`) });
    await atomicWriteFile(join(out, `${name}.json`), JSON.stringify(r, null, 2) + '\n');
    console.log(formatDetection(r));
    console.log(`written to ${join(out, `${name}.json`)}`);
    return;
  }
  const pool = str(flags, 'pool');
  const r = scanDataset(data, { trusted: pool ? await readAnyDataset(pool, flags) : undefined, seed: rt.seed, device: rt.device, log: flags.quiet ? undefined : (m) => console.error(m) });
  await writeScan(r, out, basename(path));
  console.log(formatScan(r));
  console.log(`scan written to ${join(out, 'scan.json')} and scan.html`);
}
