// A small SVG line-chart writer (no plotting library): panels side by side, each with a linear
// x axis, a linear or log10 y axis, one <path> per series, optional labels along the top and
// vertical markers. plotAssimilation() draws the poison-assimilation curves with it.

import type { AssimilationResult } from './assimilation.js';

export interface Series {
  name: string;
  color: string;
  /** (x, y) points in data units; points that cannot be drawn (y <= 0 on a log axis, non-finite) break the line. */
  points: ReadonlyArray<readonly [number, number]>;
  /** SVG stroke-dasharray, e.g. "6 4" (default solid). */
  dash?: string;
  /** Extra attributes on the series' <path>, e.g. { 'data-attack': 'urp' }. */
  attrs?: Record<string, string>;
  /** Marker drawn at each point (default circle). */
  marker?: MarkerShape;
  /** Per point: draw its marker hollow (e.g. not significant). */
  hollow?: readonly boolean[];
}

export type MarkerShape = 'circle' | 'square' | 'triangle' | 'diamond' | 'none';

export interface LegendEntry {
  name: string;
  color: string;
  dash?: string;
  marker?: MarkerShape;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  logY: boolean;
  series: Series[];
  /** x range (default: 0 .. the largest x, padded). */
  xRange?: readonly [number, number];
  /** Labels written above the plot area at these x positions (e.g. the step t of each level). */
  topLabels?: ReadonlyArray<{ x: number; label: string }>;
  /** Caption of the top labels, written at the left end (e.g. "t ="). */
  topCaption?: string;
  /** Dashed vertical lines. */
  markers?: ReadonlyArray<{ x: number; label: string }>;
  /** Extra attributes on the panel's <g>. */
  attrs?: Record<string, string>;
}

export interface ChartOptions {
  title?: string;
  /** One line under the title (e.g. settings). */
  subtitle?: string;
  panelWidth?: number;
  panelHeight?: number;
  /** Legend entries (default: the series of the first panel). */
  legend?: readonly LegendEntry[];
  /** Small print under the panels. */
  footnote?: string;
}

const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];

/** Escape text for SVG content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const fmt = (v: number): string => (Math.round(v * 100) / 100).toString();

function attrText(attrs: Record<string, string> | undefined): string {
  if (!attrs) return '';
  return Object.entries(attrs).map(([k, v]) => ` ${k}="${esc(v)}"`).join('');
}

/** About `count` round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

/** Short label for a tick value: 0.05, 0.1, 2, 1e+04 ... */
function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return Number(v.toPrecision(6)).toString();
}

/** A point marker centred at (x, y); hollow ones are white inside. */
function markerSvg(shape: MarkerShape, x: number, y: number, color: string, hollow: boolean): string {
  const paint = hollow ? `fill="#ffffff" stroke="${esc(color)}" stroke-width="1.5"` : `fill="${esc(color)}"`;
  const r = hollow ? 3.6 : 3.2;
  switch (shape) {
    case 'none':
      return '';
    case 'square':
      return `<rect x="${fmt(x - r)}" y="${fmt(y - r)}" width="${fmt(2 * r)}" height="${fmt(2 * r)}" ${paint}/>`;
    case 'triangle':
      return `<polygon points="${fmt(x)},${fmt(y - 1.2 * r)} ${fmt(x + 1.1 * r)},${fmt(y + 0.8 * r)} ${fmt(x - 1.1 * r)},${fmt(y + 0.8 * r)}" ${paint}/>`;
    case 'diamond':
      return `<polygon points="${fmt(x)},${fmt(y - 1.3 * r)} ${fmt(x + 1.3 * r)},${fmt(y)} ${fmt(x)},${fmt(y + 1.3 * r)} ${fmt(x - 1.3 * r)},${fmt(y)}" ${paint}/>`;
    default:
      return `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="${fmt(r)}" ${paint}/>`;
  }
}

/** "10" with a superscript exponent, as SVG text content. */
function powerOfTen(e: number): string {
  const exp = e < 0 ? `\u2212${-e}` : `${e}`;
  return `10<tspan dy="-6" font-size="9">${exp}</tspan>`;
}

interface Scale {
  map: (v: number) => number;
  ok: (v: number) => boolean;
}

function panelSvg(p: Panel, x0: number, y0: number, w: number, h: number, clipId: string): string {
  const m = { left: 64, right: 14, top: 46, bottom: 48 };
  const px0 = x0 + m.left;
  const px1 = x0 + w - m.right;
  const py0 = y0 + m.top;
  const py1 = y0 + h - m.bottom;
  const out: string[] = [];

  // x scale (linear).
  const xs = p.series.flatMap((s) => s.points.map(([x]) => x)).filter(Number.isFinite);
  const xMaxData = xs.length ? Math.max(...xs) : 1;
  const [xlo, xhi] = p.xRange ?? [0, xMaxData > 0 ? xMaxData * 1.04 : 1];
  const X: Scale = { map: (v) => px0 + ((v - xlo) / (xhi - xlo || 1)) * (px1 - px0), ok: Number.isFinite };

  // y scale.
  const ysAll = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter((v) => Number.isFinite(v) && (!p.logY || v > 0));
  let ylo: number;
  let yhi: number;
  let yTicks: number[];
  let Y: Scale;
  if (p.logY) {
    const lmin = ysAll.length ? Math.log10(Math.min(...ysAll)) : -1;
    const lmax = ysAll.length ? Math.log10(Math.max(...ysAll)) : 0;
    ylo = Math.floor(lmin);
    yhi = Math.ceil(lmax);
    if (yhi - ylo < 1) yhi = ylo + 1;
    const stride = Math.max(1, Math.ceil((yhi - ylo) / 8));
    yTicks = [];
    for (let e = ylo; e <= yhi; e += stride) yTicks.push(e);
    Y = { map: (v) => py1 - ((Math.log10(v) - ylo) / (yhi - ylo)) * (py1 - py0), ok: (v) => Number.isFinite(v) && v > 0 };
  } else {
    const lo = ysAll.length ? Math.min(0, ...ysAll) : 0;
    const hi = ysAll.length ? Math.max(...ysAll) : 1;
    yTicks = niceTicks(lo, hi > lo ? hi : lo + 1);
    ylo = Math.min(lo, yTicks[0]!);
    yhi = Math.max(hi, yTicks[yTicks.length - 1]!);
    Y = { map: (v) => py1 - ((v - ylo) / (yhi - ylo || 1)) * (py1 - py0), ok: Number.isFinite };
  }

  out.push(`<g class="panel"${attrText(p.attrs)}>`);
  out.push(`<text x="${fmt((px0 + px1) / 2)}" y="${fmt(y0 + 16)}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
  const frame = `x="${fmt(px0)}" y="${fmt(py0)}" width="${fmt(px1 - px0)}" height="${fmt(py1 - py0)}"`;
  out.push(`<rect ${frame} fill="#ffffff"/>`);
  out.push(`<clipPath id="${clipId}"><rect x="${fmt(px0)}" y="${fmt(py0)}" width="${fmt(px1 - px0)}" height="${fmt(py1 - py0)}"/></clipPath>`);

  // Grid and y ticks.
  if (p.logY) {
    for (let e = ylo; e < yhi; e++) {
      if (yhi - ylo > 5) break;
      for (let k = 2; k <= 9; k++) {
        const yy = Y.map(k * 10 ** e);
        out.push(`<line x1="${fmt(px0)}" x2="${fmt(px1)}" y1="${fmt(yy)}" y2="${fmt(yy)}" stroke="#f0f0f0" stroke-width="1"/>`);
      }
    }
    for (const e of yTicks) {
      const yy = Y.map(10 ** e);
      out.push(`<line x1="${fmt(px0)}" x2="${fmt(px1)}" y1="${fmt(yy)}" y2="${fmt(yy)}" stroke="#dddddd" stroke-width="1"/>`);
      out.push(`<text x="${fmt(px0 - 6)}" y="${fmt(yy + 4)}" text-anchor="end" font-size="11">${powerOfTen(e)}</text>`);
    }
  } else {
    for (const v of yTicks) {
      const yy = Y.map(v);
      out.push(`<line x1="${fmt(px0)}" x2="${fmt(px1)}" y1="${fmt(yy)}" y2="${fmt(yy)}" stroke="#dddddd" stroke-width="1"/>`);
      out.push(`<text x="${fmt(px0 - 6)}" y="${fmt(yy + 4)}" text-anchor="end" font-size="11">${esc(tickLabel(v))}</text>`);
    }
  }
  // x ticks.
  for (const v of niceTicks(xlo, xhi)) {
    if (v < xlo || v > xhi) continue;
    const xx = X.map(v);
    out.push(`<line x1="${fmt(xx)}" x2="${fmt(xx)}" y1="${fmt(py1)}" y2="${fmt(py1 + 4)}" stroke="#444444" stroke-width="1"/>`);
    out.push(`<text x="${fmt(xx)}" y="${fmt(py1 + 16)}" text-anchor="middle" font-size="11">${esc(tickLabel(v))}</text>`);
  }
  out.push(`<text x="${fmt((px0 + px1) / 2)}" y="${fmt(py1 + 36)}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`);
  const ly = (py0 + py1) / 2;
  out.push(`<text x="${fmt(x0 + 14)}" y="${fmt(ly)}" text-anchor="middle" font-size="12" transform="rotate(-90 ${fmt(x0 + 14)} ${fmt(ly)})">${esc(p.yLabel)}</text>`);

  // Labels along the top (skipping ones that would overlap the previous one).
  if (p.topLabels?.length) {
    if (p.topCaption) out.push(`<text x="${fmt(px0 - 8)}" y="${fmt(py0 - 12)}" text-anchor="end" font-size="10" fill="#555555">${esc(p.topCaption)}</text>`);
    let last = -Infinity;
    for (const { x, label } of [...p.topLabels].sort((a, b) => a.x - b.x)) {
      const xx = X.map(x);
      if (xx < px0 - 1 || xx > px1 + 1) continue;
      const half = 3.2 * label.length;
      if (xx - half < last + 3) continue;
      last = xx + half;
      out.push(`<line x1="${fmt(xx)}" x2="${fmt(xx)}" y1="${fmt(py0)}" y2="${fmt(py0 - 4)}" stroke="#888888" stroke-width="1"/>`);
      out.push(`<text x="${fmt(xx)}" y="${fmt(py0 - 12)}" text-anchor="middle" font-size="10" fill="#555555">${esc(label)}</text>`);
    }
  }

  // Markers.
  for (const mk of p.markers ?? []) {
    const xx = X.map(mk.x);
    if (xx < px0 || xx > px1) continue;
    out.push(`<line class="marker" x1="${fmt(xx)}" x2="${fmt(xx)}" y1="${fmt(py0)}" y2="${fmt(py1)}" stroke="#555555" stroke-width="1.2" stroke-dasharray="5 3"/>`);
    out.push(`<text x="${fmt(xx + 4)}" y="${fmt(py1 - 6)}" font-size="11" fill="#333333">${esc(mk.label)}</text>`);
  }

  // Series.
  for (const s of p.series) {
    let d = '';
    let pen = false;
    const dots: string[] = [];
    for (const [k, [x, y]] of s.points.entries()) {
      if (!X.ok(x) || !Y.ok(y)) {
        pen = false;
        continue;
      }
      const xx = X.map(x);
      const yy = Y.map(y);
      d += `${pen ? 'L' : 'M'}${fmt(xx)} ${fmt(yy)} `;
      pen = true;
      dots.push(markerSvg(s.marker ?? 'circle', xx, yy, s.color, s.hollow?.[k] === true));
    }
    const dash = s.dash ? ` stroke-dasharray="${esc(s.dash)}"` : '';
    out.push(`<path${attrText(s.attrs)} d="${d.trim()}" fill="none" stroke="${esc(s.color)}" stroke-width="2"${dash} clip-path="url(#${clipId})"><title>${esc(s.name)}</title></path>`);
    if (dots.length) out.push(`<g clip-path="url(#${clipId})">${dots.join('')}</g>`);
  }
  out.push(`<rect ${frame} fill="none" stroke="#444444" stroke-width="1"/>`);
  out.push('</g>');
  return out.join('\n');
}

/** Panels side by side under a title and a legend; returns a standalone SVG document. */
export function lineChartSvg(panels: readonly Panel[], o: ChartOptions = {}): string {
  const pw = o.panelWidth ?? 380;
  const ph = o.panelHeight ?? 330;
  const head = (o.title ? 26 : 0) + (o.subtitle ? 18 : 0) + 26;
  const W = pw * panels.length + 20;
  const H = head + ph + 8 + (o.footnote ? 16 : 0);
  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" fill="#111111">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  let y = 0;
  if (o.title) {
    y += 22;
    out.push(`<text x="${W / 2}" y="${y}" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  }
  if (o.subtitle) {
    y += 18;
    out.push(`<text x="${W / 2}" y="${y}" text-anchor="middle" font-size="11" fill="#444444">${esc(o.subtitle)}</text>`);
  }
  // Legend, centred in one row.
  const legend = o.legend ?? panels[0]?.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash, marker: s.marker })) ?? [];
  const widths = legend.map((e) => 34 + 6.6 * e.name.length + 16);
  let lx = (W - widths.reduce((a, b) => a + b, 0)) / 2;
  const legY = y + 18;
  out.push('<g class="legend">');
  legend.forEach((e, k) => {
    const dash = e.dash ? ` stroke-dasharray="${esc(e.dash)}"` : '';
    out.push(`<line x1="${fmt(lx)}" x2="${fmt(lx + 26)}" y1="${legY - 4}" y2="${legY - 4}" stroke="${esc(e.color)}" stroke-width="2.5"${dash}/>`);
    out.push(markerSvg(e.marker ?? 'circle', lx + 13, legY - 4, e.color, false));
    out.push(`<text x="${fmt(lx + 32)}" y="${legY}" font-size="12">${esc(e.name)}</text>`);
    lx += widths[k]!;
  });
  out.push('</g>');
  panels.forEach((p, k) => out.push(panelSvg(p, 10 + k * pw, head, pw, ph, `clip${k}`)));
  if (o.footnote) out.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-size="11" fill="#444444">${esc(o.footnote)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const DASHES = ['', '8 4', '2 3', '10 3 2 3'];
const MARKERS: MarkerShape[] = ['circle', 'square', 'triangle', 'diamond'];

/** Colour of attack k (stable order: the result's attack order). */
export function seriesColor(k: number): string {
  return PALETTE[k % PALETTE.length]!;
}

/** Colour, dash pattern and marker of series k, so overlapping lines stay distinguishable. */
export function seriesStyle(k: number): { color: string; dash?: string; marker: MarkerShape } {
  const dash = DASHES[k % DASHES.length]!;
  return { color: seriesColor(k), dash: dash || undefined, marker: MARKERS[k % MARKERS.length]! };
}

/**
 * The assimilation figure: squared MMD, paired KL and poison-to-noise ratio against the noise
 * std sqrt(1 - abar_t) (log y), one line per attack, the steps t along the top, a marker at t*.
 * Paths carry data-attack="<name>". MMD^2 points within 2 standard errors of 0 are hollow;
 * values <= 0 cannot be drawn on the log axis and break the line.
 */
export function plotAssimilation(r: AssimilationResult): string {
  const x = r.levels.map((l) => l.noiseStd);
  const topLabels = r.levels.map((l) => ({ x: l.noiseStd, label: String(l.t) }));
  const tStarLevel = r.levels.find((l) => l.t === r.tStar);
  const markers = tStarLevel ? [{ x: tStarLevel.noiseStd, label: `t* = ${r.tStar}` }] : [];
  const xLabel = 'noise std \u221A(1 \u2212 \u1FB1\u209C)  ([\u22121, 1] units)';
  type Attack = AssimilationResult['attacks'][number];
  const attackSeries = (values: (a: Attack) => (number | null)[], hollow?: (a: Attack) => boolean[]): Series[] =>
    r.attacks.map((a, k) => ({
      name: a.attack,
      ...seriesStyle(k),
      points: values(a).map((v, i) => [x[i]!, v ?? NaN] as const),
      hollow: hollow?.(a),
      attrs: { 'data-attack': a.attack },
    }));
  const common = { xLabel, logY: true, topLabels, topCaption: 't =', markers };
  const panels: Panel[] = [
    {
      ...common,
      title: 'squared MMD (Gaussian kernel)',
      yLabel: 'MMD\u00B2 (unbiased)',
      series: attackSeries((a) => a.mmd2, (a) => a.mmd2.map((v, i) => !(v > 2 * a.mmd2Se[i]!))),
      attrs: { 'data-panel': 'mmd2' },
    },
    { ...common, title: 'KL per image pair (Theorem 1)', yLabel: 'KL (nats), mean over images', series: attackSeries((a) => a.kl), attrs: { 'data-panel': 'kl' } },
    {
      ...common,
      title: 'poison-to-noise ratio',
      yLabel: '\u2016\u03B4\u2016\u2082 / (\u221A(1 \u2212 \u1FB1\u209C) \u221AD)',
      series: attackSeries((a) => a.pnr),
      attrs: { 'data-panel': 'pnr' },
    },
  ];
  return lineChartSvg(panels, {
    title: 'Gaussian noise assimilates the poisons (forward diffusion process)',
    subtitle: `${r.n} images, ${r.schedule.name} schedule, T = ${r.schedule.T}; kernel bandwidth \u03C3\u00B2 = ${r.kernel.sigma2.toFixed(1)} (median heuristic, noiseless clean set); seed ${r.seed}`,
    legend: r.attacks.map((a, k) => ({ name: a.attack, ...seriesStyle(k) })),
    footnote: 'MMD\u00B2: control-variate estimate; hollow points lie within 2 standard errors of 0, points \u2264 0 are not drawn. KL: infinite at t = 0.',
  });
}
