// The report's image figures: the paper's Fig. 1 (clean images, each poison and its amplified
// perturbation) and Fig. 4 (clean, poisoned, noised to t*, purified), read from the matrix's
// artifacts and drawn as PNG strips (gridPng), one labelled strip per row.
import { ECLIPSE } from '../defenses/registry.js';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

import { imageView, type ImageDataset } from '../data/dataset.js';
import { loadDataset } from '../data/store.js';
import { noisedImage } from '../diffusion/schedule.js';
import { readMatrixConfig } from '../matrix/config.js';
import { gridPng } from '../io/grid.js';
import { PAPER_ATTACKS, attackLabel } from './paper.js';
import type { ReportCell, ResultSet } from './results.js';

export interface ImageRow {
  label: string;
  png: Buffer;
}

export interface ImageFigure {
  id: string;
  title: string;
  caption: string;
  rows: ImageRow[];
}

/** How much the perturbation strip amplifies delta = poisoned - clean (shown as 128 + AMPLIFY x delta). */
export const AMPLIFY = 10;
/** Images per strip. */
const PER_ROW = 8;
const SCALE = 3;

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/**
 * The clean training set the poisons were made from: --data (a dataset file, a data folder
 * with train.safetensors, or the matrix config naming its data), else the profile's default
 * import data/cifar10-<profile>/ in the current folder. Returns the file or why there is none.
 */
export async function findCleanTrain(data: string | undefined, cells: readonly ReportCell[]): Promise<{ file: string | null; why: string }> {
  if (data) {
    if (data.endsWith('.json')) {
      const c = await readMatrixConfig(data);
      if (c.data) return isFile(c.data.train) ? { file: c.data.train, why: '' } : { file: null, why: `${data} names ${c.data.train}, which does not exist` };
      data = join('data', `cifar10-${c.profile}`);
    }
    const f = existsSync(data) && statSync(data).isDirectory() ? join(data, 'train.safetensors') : data;
    return isFile(f) ? { file: f, why: '' } : { file: null, why: `${f} does not exist` };
  }
  const profiles = [...new Set(cells.map((c) => c.profile))];
  for (const p of profiles) {
    const f = join('data', `cifar10-${p}`, 'train.safetensors');
    if (isFile(f)) return { file: f, why: '' };
  }
  return { file: null, why: 'no clean training set was found (pass --data: the dataset file, its folder, or the matrix config)' };
}

/** Where a poisoned training set of a cell is: the given file, or ARTIFACTS/poisons/<attack>-<key>.safetensors. */
export function poisonFile(c: ReportCell, artifactsDir: string): string | null {
  const t = c.extra.train;
  if (!t || c.attack === 'clean') return null;
  if (t.startsWith(`${c.attack}:file:`)) return c.cell?.spec.poisonFile ?? null;
  const key = t.slice(c.attack.length + 1);
  return join(artifactsDir, 'poisons', `${c.attack}-${key}.safetensors`);
}

/** A purified set's file: as recorded (absolute, or relative to the runner's folder), else rebased onto ARTIFACTS. */
export function purifiedFile(c: ReportCell, artifactsDir: string): string | null {
  const p = c.extra.purified;
  if (!p) return null;
  const parts = p.split(/[\\/]/);
  const candidates = [isAbsolute(p) ? p : resolve(p), join(artifactsDir, ...parts.slice(-3))];
  return candidates.find(isFile) ?? null;
}

/** One image of each class first (in class order), then the next images, up to `k`. */
export function pickIndices(ds: Pick<ImageDataset, 'labels' | 'classes' | 'n'>, k = PER_ROW): number[] {
  const out: number[] = [];
  for (let cls = 0; cls < ds.classes.length && out.length < k; cls++) {
    const i = ds.labels.indexOf(cls);
    if (i >= 0) out.push(i);
  }
  for (let i = 0; i < ds.n && out.length < k; i++) if (!out.includes(i)) out.push(i);
  return out;
}

const sameLayout = (a: ImageDataset, b: ImageDataset): boolean =>
  a.n === b.n && a.height === b.height && a.width === b.width && a.labels.every((l, i) => l === b.labels[i]);

/** 128 + AMPLIFY x (poisoned - clean), clipped to [0, 255]: mid-grey is no change. */
export function amplifiedDelta(poisoned: Uint8Array, clean: Uint8Array): Uint8Array {
  return poisoned.map((p, i) => Math.min(255, Math.max(0, Math.round(128 + AMPLIFY * (p - clean[i]!)))));
}

/** x_t* of an image (diffusion/schedule.ts), t* clamped to the schedule's steps. */
export const noised = (image: Uint8Array, T: number, tStar: number, seed: number): Uint8Array => noisedImage(image, T, Math.min(T, Math.max(1, tStar)), seed);

const strip = (ds: ImageDataset, idx: readonly number[], f: (img: Uint8Array, j: number) => Uint8Array = (x) => x): Promise<Buffer> =>
  gridPng([idx.map((i, j) => f(imageView(ds, i), j))], ds.height, ds.width, { scale: SCALE });

/** Attacks in the paper's order, then any other. */
export function attackOrder(attacks: Iterable<string>): string[] {
  const set = new Set(attacks);
  return [...PAPER_ATTACKS.filter((a) => set.has(a)), ...[...set].filter((a) => !(PAPER_ATTACKS as readonly string[]).includes(a)).sort()];
}

export interface FiguresResult {
  figures: ImageFigure[];
  /** sentences on what could not be drawn */
  notes: string[];
}

export async function imageFigures(rs: ResultSet, artifactsDir: string, cleanFile: string | null, cleanWhy: string): Promise<FiguresResult> {
  const notes: string[] = [];
  const figures: ImageFigure[] = [];
  let clean: ImageDataset | null = null;
  if (cleanFile) {
    try {
      clean = await loadDataset(cleanFile);
    } catch (e) {
      notes.push(`The clean training set ${cleanFile} could not be read (${(e as Error).message}): the figures show no clean images or perturbations.`);
    }
  } else notes.push(`Figures without clean images or perturbations: ${cleanWhy}.`);

  // one poison file per attack (any cell of the attack names it)
  const poisons = new Map<string, string>();
  for (const c of rs.cells) {
    if (c.attack === 'clean' || poisons.has(c.attack)) continue;
    const f = poisonFile(c, artifactsDir);
    if (f && isFile(f)) poisons.set(c.attack, f);
  }
  const attacks = attackOrder(rs.cells.filter((c) => c.attack !== 'clean').map((c) => c.attack));
  const noPoison = attacks.filter((a) => !poisons.has(a));
  if (noPoison.length) notes.push(`No poisoned training set was found under ${join(artifactsDir, 'poisons')} for ${noPoison.map(attackLabel).join(', ')}.`);

  let idx: number[] | null = clean ? pickIndices(clean) : null;
  const fig1: ImageRow[] = [];
  const fig4: ImageRow[] = [];
  if (clean && idx) fig1.push({ label: 'clean', png: await strip(clean, idx) });
  for (const attack of attackOrder(poisons.keys())) {
    let poisoned: ImageDataset;
    try {
      poisoned = await loadDataset(poisons.get(attack)!);
    } catch (e) {
      notes.push(`${attackLabel(attack)}: ${poisons.get(attack)} could not be read (${(e as Error).message}).`);
      continue;
    }
    if (clean && !sameLayout(clean, poisoned)) {
      notes.push(`${attackLabel(attack)}: ${poisons.get(attack)} is not a poisoned copy of ${cleanFile} (other size or labels): no perturbation drawn.`);
    }
    idx ??= pickIndices(poisoned);
    const paired = clean && sameLayout(clean, poisoned) ? clean : null;
    fig1.push({ label: `${attackLabel(attack)} poisoned`, png: await strip(poisoned, idx) });
    if (paired) fig1.push({ label: `${attackLabel(attack)} perturbation (128 + ${AMPLIFY}·δ)`, png: await strip(poisoned, idx, (img, j) => amplifiedDelta(img, imageView(paired, idx![j]!))) });

    // Fig. 4: the main ECLIPSE cell of this attack with a purified set (ResNet-18 first)
    const archs = [...rs.architectures].sort((a, b) => Number(b === 'resnet18') - Number(a === 'resnet18'));
    const cell = archs.flatMap((arch) => rs.main(arch, ECLIPSE, attack)).find((c) => c.cell?.eclipse && purifiedFile(c, artifactsDir));
    if (!cell) continue;
    const pf = purifiedFile(cell, artifactsDir)!;
    let purified: ImageDataset;
    try {
      purified = await loadDataset(pf);
    } catch (e) {
      notes.push(`${attackLabel(attack)}: the purified set ${pf} could not be read (${(e as Error).message}).`);
      continue;
    }
    if (!sameLayout(purified, poisoned)) {
      notes.push(`${attackLabel(attack)}: the purified set ${pf} does not match the poisoned set (size or labels): not drawn.`);
      continue;
    }
    const e = cell.cell!.eclipse!.profile;
    fig4.push({ label: `${attackLabel(attack)} poisoned`, png: await strip(poisoned, idx) });
    fig4.push({ label: `${attackLabel(attack)} noised to t* = ${e.purify.tStar} of ${e.denoiser.steps}`, png: await strip(poisoned, idx, (img, j) => noised(img, e.denoiser.steps, e.purify.tStar, j)) });
    fig4.push({ label: `${attackLabel(attack)} purified`, png: await strip(purified, idx) });
  }
  if (fig1.length > 0)
    figures.push({
      id: 'fig1',
      title: 'Fig. 1: clean images, poisoned images and their perturbations',
      caption:
        `The same ${idx!.length} training images (one per class first) in every row.` +
        (clean ? ` Perturbation rows show δ = poisoned − clean as 128 + ${AMPLIFY}·δ per channel, clipped to [0, 255] (mid-grey: no change; ±8/255 shows as ±80).` : ''),
      rows: fig1,
    });
  if (fig4.length > 0) {
    if (clean && idx) fig4.unshift({ label: 'clean', png: await strip(clean, idx) });
    figures.push({
      id: 'fig4',
      title: 'Fig. 4: clean, poisoned, noised to t* and purified images',
      caption:
        'ECLIPSE cells at their main settings. The noised rows illustrate the forward process x_t* = √ᾱ x + √(1−ᾱ) ε on the cosine schedule with fresh seeded noise; ' +
        'the purified rows are the purified training sets the classifiers trained on.',
      rows: fig4,
    });
  } else if (!rs.cells.some((c) => c.defense === ECLIPSE && c.attack !== 'clean')) notes.push('No ECLIPSE cell on poisoned data has finished: Fig. 4 is left out.');
  else notes.push(`No purified training set of an ECLIPSE cell was found (under ${join(artifactsDir, 'purified')}; cells without purification, ablation B/C/BC, have none): Fig. 4 is left out.`);
  return { figures, notes };
}
