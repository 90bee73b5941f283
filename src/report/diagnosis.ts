// Issue 25's diagnosis: ECLIPSE's purifier (its sparse set, denoiser and purification settings)
// against test accuracy and what the purified set kept of the poison (the poison scan's score on
// it), one row per purifier variant that ran, and the t*, denoiser-iterations and U-Net-width
// lines as plots. Only cells with the whole defence (A+B+C) and the compensation module at the
// profile's values count, so the rows differ in the purifier alone.
import { ECLIPSE } from '../defenses/registry.js';
import { ECLIPSE_MATRIX_KEYS, ECLIPSE_SETTINGS, eclipseProfile, eclipseSettingsOf, type EclipseSettingKey } from '../eclipse-settings.js';
import { PROFILES, type ProfileName } from '../profiles.js';
import { attackOrder } from './figures.js';
import { DASH, fmt, profileSentence, statCell } from './format.js';
import type { Plot, ReportTable, TableCell } from './model.js';
import { archLabel, attackLabel } from './paper.js';
import { SEED_OPTIONS, ablationOf, stat, type ReportCell, type ResultSet } from './results.js';
import { attackLinePanel } from './plots.js';
import { renderVegaLite, type TopLevelSpec } from './vega.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
type Value = number | number[];

/** One purifier recipe that ran: the settings where it differs from its profile, and its cells. */
export interface PurifierVariant {
  label: string;
  off: Partial<Record<EclipseSettingKey, Value>>;
  cells: ReportCell[];
}

/** A setting's value in words ("t* 200", "denoiser trained on every t"). */
export function settingText(k: EclipseSettingKey, v: Value): string {
  if (k === 'trainMaxT') return v === 0 ? 'denoiser trained on every t' : `denoiser trained on t ≤ ${String(v)}`;
  if (k === 'respacedSteps') return v === 0 ? 'the full reverse chain' : `${String(v)} reverse steps`;
  const spec = ECLIPSE_SETTINGS[k] as { label?: string; help: string };
  return `${spec.label ?? spec.help} ${Array.isArray(v) ? v.join(',') : String(v)}`;
}

const isProfile = (p: string): p is ProfileName => (PROFILES as readonly string[]).includes(p);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
/** The config's option keys an ECLIPSE cell may carry and still be a purifier variant. */
const eclipseOption = (k: string): boolean => k in ECLIPSE_MATRIX_KEYS || k.startsWith('defense.') || k === 'ablation' || SEED_OPTIONS.includes(k);

/** The purifier variants among the architecture's ECLIPSE cells, the profile's own first. */
export function purifierVariants(rs: ResultSet, arch: string): PurifierVariant[] {
  const keys = Object.keys(ECLIPSE_SETTINGS) as EclipseSettingKey[];
  const byLabel = new Map<string, PurifierVariant & { order: number[] }>();
  for (const c of rs.cells) {
    const e = c.cell?.eclipse?.profile;
    if (c.architecture !== arch || c.defense !== ECLIPSE || !e || !isProfile(c.profile) || ablationOf(c.cell!) !== 'ABC') continue;
    if (!Object.keys(c.options).every(eclipseOption)) continue;
    const own = eclipseSettingsOf(e);
    const base = eclipseSettingsOf(eclipseProfile(c.profile));
    if (keys.some((k) => ECLIPSE_SETTINGS[k].part === 'compensation' && !same(own[k], base[k]))) continue;
    const offKeys = keys.filter((k) => !same(own[k], base[k]));
    const label = offKeys.length ? offKeys.map((k) => settingText(k, own[k])).join(', ') : `${c.profile}'s settings`;
    const v = byLabel.get(label) ?? { label, off: Object.fromEntries(offKeys.map((k) => [k, own[k]])), cells: [] as ReportCell[], order: offKeys.map((k) => keys.indexOf(k)) };
    v.cells.push(c);
    byLabel.set(label, v);
  }
  // the profile's row first, then by the settings changed (the settings table's order), then their values
  const num = (x: Value | undefined): number => (typeof x === 'number' ? x : 0);
  const cmp = (a: PurifierVariant & { order: number[] }, b: PurifierVariant & { order: number[] }): number => {
    for (let i = 0; i < Math.max(a.order.length, b.order.length); i++) {
      const [ka, kb] = [a.order[i] ?? -1, b.order[i] ?? -1];
      if (ka !== kb) return ka - kb;
      const d = num(a.off[keys[ka]!]) - num(b.off[keys[kb]!]);
      if (d !== 0) return d;
    }
    return a.label.localeCompare(b.label);
  };
  return [...byLabel.values()]
    .sort(cmp)
    .map(({ order: _o, ...v }) => v);
}

/** clean first, then the attacks in the paper's order; only those that ran under two variants or more. */
function columnsOf(variants: readonly PurifierVariant[]): string[] {
  const count = new Map<string, number>();
  for (const v of variants) for (const a of new Set(v.cells.map((c) => c.attack))) count.set(a, (count.get(a) ?? 0) + 1);
  const shown = [...count].filter(([, n]) => n >= 2).map(([a]) => a);
  return [...(shown.includes('clean') ? ['clean'] : []), ...attackOrder(shown.filter((a) => a !== 'clean'))];
}

const scanOf = (c: ReportCell): number | null => c.extra.purified_makeup?.scan_score ?? null;
/** A stage's build time (s) as the cell recorded it (whichever cell built the stage). */
const stageOf = (c: ReportCell, stage: string): number | null => {
  const s = (c.extra as { stage_seconds?: Record<string, number | null> }).stage_seconds?.[stage];
  return typeof s === 'number' && s > 0 ? s : null;
};
const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** The median minutes a recipe's cells recorded for one of ECLIPSE's stages (null: none did). */
export function stageMinutes(v: PurifierVariant, stage: string): number | null {
  const m = median(v.cells.map((c) => stageOf(c, stage)).filter((x): x is number => x !== null));
  return m === null ? null : m / 60;
}

/** Mean and sample sd of the scan scores of some cells (stat() reads accuracies as fractions). */
function scanStat(cells: readonly ReportCell[]): { mean: number; std: number; n: number } | null {
  const xs = cells.map(scanOf).filter((x): x is number => x !== null && Number.isFinite(x));
  if (xs.length === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((t, x) => t + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, n: xs.length };
}

export function diagnosisTables(rs: ResultSet, arch: string): ReportTable[] {
  const variants = purifierVariants(rs, arch);
  if (variants.length < 2) return [];
  const attacks = columnsOf(variants);
  const at = (v: PurifierVariant, a: string): ReportCell[] => v.cells.filter((c) => c.attack === a);
  const minutes = (v: PurifierVariant, stage: string): TableCell => {
    const m = stageMinutes(v, stage);
    return m === null ? { ours: DASH } : { ours: fmt(m), has: true, title: `median over the variant's cells that recorded it (${stage} stage)` };
  };
  const used = variants.flatMap((v) => v.cells.filter((c) => attacks.includes(c.attack)));
  const common = [
    profileSentence(used),
    "ECLIPSE (A+B+C, the compensation module at the profile's p and sigma) with one purifier recipe per row: what differs from the profile's sparse set, denoiser and purification. Mean over runs (\"mean ±sd\" where n > 1; the hover text names the seeds). Columns: clean data, and the attacks run under two recipes or more.",
  ];
  const acc: ReportTable = {
    id: `diagnosis-acc-${arch}`,
    title: `Purifier recipes (${archLabel(arch)}): ECLIPSE's test accuracy (%)`,
    columns: ['purifier', ...attacks.map(attackLabel)],
    rows: variants.map((v) => ({ head: v.label, cells: attacks.map((a) => statCell(stat(at(v, a)), null, false)) })),
    notes: common,
  };
  const left: ReportTable = {
    id: `diagnosis-left-${arch}`,
    title: `Purifier recipes (${archLabel(arch)}): the poison left, and the cost`,
    columns: ['purifier', ...attacks.map(attackLabel), 'denoiser (min)', 'purify (min)'],
    rows: variants.map((v) => ({
      head: v.label,
      cells: [...attacks.map((a) => {
        const s = scanStat(at(v, a));
        return s ? { ours: s.n > 1 ? `${fmt(s.mean, 2)} ±${fmt(s.std, 2)}` : fmt(s.mean, 2), has: true, title: `n = ${s.n}` } : { ours: DASH };
      }), minutes(v, 'denoiser'), minutes(v, 'purify')],
    })),
    notes: [
      ...common,
      "Each attack's cell: the poison scan's score on the purified training set (its largest z against clean calibration; higher: more of a learnable shortcut left; the clean column is the purification's own). The last two columns: the denoiser's training and one purification of the 5,000-image set, in minutes on the machine that ran them.",
    ],
  };
  return [acc, left];
}

/** The lines the diagnosis plots: a setting, and the settings allowed to move with it. */
const LINES: readonly { key: EclipseSettingKey; with: readonly EclipseSettingKey[]; title: string; log?: boolean; note?: string }[] = [
  { key: 'tStar', with: ['trainMaxT'], title: 't*', note: "one line per denoiser: trained on t ≤ t* (mini's rule) or on a fixed range (Table 7's)" },
  { key: 'iterations', with: [], title: 'denoiser iterations', log: true },
  { key: 'channels', with: [], title: 'U-Net base channels', log: true },
];

export async function diagnosisPlots(rs: ResultSet, arch: string): Promise<Plot[]> {
  const variants = purifierVariants(rs, arch);
  const attacks = columnsOf(variants);
  const plots: Plot[] = [];
  for (const line of LINES) {
    type Point = { attack: string; series: string; x: number; acc: number | null; scan: number | null; n: number };
    const points: Point[] = [];
    const used: ReportCell[] = [];
    for (const v of variants) {
      if (!Object.keys(v.off).every((k) => k === line.key || line.with.includes(k as EclipseSettingKey))) continue;
      const e = v.cells[0]!.cell!.eclipse!.profile;
      const own = eclipseSettingsOf(e);
      const x = own[line.key];
      if (typeof x !== 'number') continue;
      // t*'s two lines: the denoiser trained on t <= t* (mini's rule) and on a fixed range (Table 7)
      const series = line.key === 'tStar' ? (own.trainMaxT === own.tStar ? 'denoiser on t ≤ t*' : settingText('trainMaxT', own.trainMaxT)) : line.title;
      for (const a of attacks) {
        const cells = v.cells.filter((c) => c.attack === a);
        const s = stat(cells);
        if (!s) continue;
        used.push(...cells);
        points.push({ attack: attackLabel(a), series, x, acc: s.mean, scan: scanStat(cells)?.mean ?? null, n: s.n });
      }
    }
    if (new Set(points.map((p) => p.x)).size < 2) continue;
    const order = attacks.map(attackLabel);
    const xEnc = { field: 'x', type: 'quantitative', title: line.title, scale: line.log ? { type: 'log' } : { zero: false } };
    const panel = (field: string, title: string, extra: object = {}): object =>
      attackLinePanel({
        x: xEnc, field, title, extra, order, height: 220,
        encoding: { strokeDash: { field: 'series', type: 'nominal', title: 'line' }, detail: { field: 'series', type: 'nominal' } },
        tooltip: [{ field: 'attack' }, { field: 'series' }, { field: 'x', title: line.title }, { field, format: '.2f' }, { field: 'n' }],
      });
    const spec = {
      $schema: SCHEMA,
      title: `${archLabel(arch)}, ECLIPSE: accuracy and the poison left vs ${line.title}`,
      data: { values: points },
      hconcat: [panel('acc', 'test accuracy (%)', { scale: { domain: [0, 100] } }), panel('scan', "poison scan's score on the purified set")],
    } as unknown as TopLevelSpec;
    plots.push({
      id: `diagnosis-${arch}-${line.key}`,
      title: `The purifier's ${line.title} (${archLabel(arch)})`,
      caption:
        `ECLIPSE's test accuracy (left) and the poison scan's score on the purified training set (right) against ${line.title}, every other purifier setting at the profile's value` +
        (line.note ? ` (${line.note})` : '') +
        `; mean over runs (n in each point's tooltip); one colour per attack (clean = the clean-data cells). ${profileSentence(used)}`,
      svg: await renderVegaLite(spec),
    });
  }
  return plots;
}
