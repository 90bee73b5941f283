// Outputs of the assimilation analysis: JSON (everything), CSV (one row per attack and level),
// SVG + PNG figure, and a plain-text table for the terminal. Files are written atomically.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

import { atomicWriteFile } from '../io/atomic.js';
import type { AssimilationResult } from './assimilation.js';
import { plotAssimilation } from './plot.js';

export interface AssimilationFiles {
  json: string;
  csv: string;
  svg: string;
  png: string;
}

export const assimilationFiles = (dir: string): AssimilationFiles => ({
  json: join(dir, 'assimilation.json'),
  csv: join(dir, 'assimilation.csv'),
  svg: join(dir, 'assimilation.svg'),
  png: join(dir, 'assimilation.png'),
});

const num = (v: number | null): string => (v === null || !Number.isFinite(v) ? '' : String(v));

/**
 * attack,t,alpha_bar,noise_std,mmd2,mmd2_se,mmd2_plain,mmd2_plain_se,mmd2_null,mmd2_null_se,kl_nats,pnr,is_t_star
 * (kl and pnr empty at t = 0).
 */
export function assimilationCsv(r: AssimilationResult): string {
  const lines = ['attack,t,alpha_bar,noise_std,mmd2,mmd2_se,mmd2_plain,mmd2_plain_se,mmd2_null,mmd2_null_se,kl_nats,pnr,is_t_star'];
  for (const a of r.attacks) {
    r.levels.forEach((l, i) => {
      lines.push(
        [
          a.attack, l.t, l.alphaBar, l.noiseStd, a.mmd2[i]!, a.mmd2Se[i]!, a.mmd2Plain[i]!, a.mmd2PlainSe[i]!,
          r.nullMmd2[i]!, r.nullMmd2Se[i]!, num(a.kl[i]!), num(a.pnr[i]!), l.t === r.tStar ? 1 : 0,
        ].join(','),
      );
    });
  }
  return lines.join('\n') + '\n';
}

const sci = (v: number | null, digits = 2): string => (v === null || !Number.isFinite(v) ? '-' : v.toExponential(digits));
const short = (v: number | null): string => {
  if (v === null || !Number.isFinite(v)) return '-';
  if (v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2)) return v.toExponential(2);
  return v.toPrecision(3);
};

/** Right-aligned columns (the first left-aligned), two spaces apart. */
function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  return rows.map((row) => row.map((s, c) => (c === 0 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join('  ').trimEnd());
}

/** A table for the terminal: MMD^2 (+- s.e.), KL and PNR per attack, one row per level, t* starred. */
export function assimilationTable(r: AssimilationResult): string {
  const lead = (i: number): string[] => {
    const l = r.levels[i]!;
    return [`${l.t}${l.t === r.tStar ? '*' : ''}`, l.noiseStd.toFixed(4)];
  };
  const head = ['t', 'std', ...r.attacks.map((a) => a.attack)];
  const block = (title: string, cell: (a: AssimilationResult['attacks'][number], i: number) => string, extra?: { name: string; cell: (i: number) => string }): string[] => [
    title,
    ...columns([
      extra ? [...head, extra.name] : head,
      ...r.levels.map((_, i) => [...lead(i), ...r.attacks.map((a) => cell(a, i)), ...(extra ? [extra.cell(i)] : [])]),
    ]).map((line) => `  ${line}`),
  ];
  const deltas = r.attacks.map((a) => `${a.attack} ${a.delta.l2Mean.toFixed(3)}`).join(', ');
  return [
    ...block(
      `squared MMD, Gaussian kernel (sigma^2 = ${r.kernel.sigma2.toFixed(1)}, median heuristic), unbiased, control variate; +- 1 s.e.`,
      (a, i) => `${sci(a.mmd2[i]!)} +- ${sci(a.mmd2Se[i]!, 1)}`,
      { name: 'clean vs clean (plain)', cell: (i) => sci(r.nullMmd2[i]!) },
    ),
    ...block(`KL = alpha_bar ||x_p - x_c||^2 / (2 (1 - alpha_bar)), nats, mean over ${r.n} images`, (a, i) => short(a.kl[i]!)),
    ...block(`poison-to-noise ratio ||delta||_2 / (std sqrt(${r.dims}))`, (a, i) => short(a.pnr[i]!)),
    `* t* (the purification step); std = sqrt(1 - alpha_bar_t); [-1,1] units; mean ||delta||_2: ${deltas}.`,
  ].join('\n');
}

/** Write assimilation.json, .csv, .svg and .png into `dir` (created if needed), each atomically. */
export async function writeAssimilation(r: AssimilationResult, dir: string): Promise<AssimilationFiles> {
  const files = assimilationFiles(dir);
  const hint = 'choose another folder with --out';
  await mkdir(dir, { recursive: true });
  const svg = plotAssimilation(r);
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  await atomicWriteFile(files.json, JSON.stringify(r, null, 2) + '\n', { hint });
  await atomicWriteFile(files.csv, assimilationCsv(r), { hint });
  await atomicWriteFile(files.svg, svg, { hint });
  await atomicWriteFile(files.png, png, { hint });
  return files;
}
