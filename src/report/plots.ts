// The report's plots (Vega-Lite, rendered to SVG): ECLIPSE's sweeps and the training curves.
import { attackOrder } from './figures.js';
import { defenseOrder, profileSentence, spreadText } from './format.js';
import { readMetrics } from './load.js';
import type { Plot } from './model.js';
import { ECLIPSE } from '../defenses/registry.js';
import { AVG_ATTACKS, PAPER_SWEEP_AVG, archLabel, attackLabel, defenseLabel, optionLabel } from './paper.js';
import { optionValue, stat, type ReportCell, type ResultSet, type Stat } from './results.js';
import { renderVegaLite, type TopLevelSpec } from './vega.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export async function sweepPlots(rs: ResultSet, arch: string): Promise<Plot[]> {
  const attacks = attackOrder(rs.cells.filter((c) => c.architecture === arch && c.defense === ECLIPSE).map((c) => c.attack));
  const keys = [...new Set(attacks.flatMap((a) => rs.axesFor(arch, ECLIPSE, a).map((x) => x.key)))].filter((k) => k !== 'ablation').sort();
  const plots: Plot[] = [];
  for (const key of keys) {
    // n: the cells a point averages (the paper's: its eight attacks); lo/hi: the range [min, max]
    // of the runs it averages (null where it is one run, an average over attacks or the paper's)
    type Point = { series: string; kind: string; x: number | string; acc: number; n: number; spread: string; lo: number | null; hi: number | null };
    // the other swept options at the main cells' values, or (when that gives fewer points, e.g.
    // one option swept at another's non-default value) at the profile's values
    const collect = (others: (c: ReportCell) => boolean): { points: Point[]; used: ReportCell[]; byAttack: Map<string, Map<string, Stat>>; numeric: boolean } => {
      const points: Point[] = [];
      const used: ReportCell[] = [];
      const byAttack = new Map<string, Map<string, Stat>>();
      let numeric = true;
      for (const a of attacks) {
        const axis = rs.axesFor(arch, ECLIPSE, a).find((x) => x.key === key);
        if (!axis) continue;
        const m = new Map<string, Stat>();
        for (const v of axis.values) {
          const cells = (rs.groups.get(`${arch}|${ECLIPSE}|${a}`) ?? []).filter((c) => c.cell && optionValue(c.cell, key) === v && others(c));
          const s = stat(cells);
          if (!s) continue;
          used.push(...cells);
          if (typeof v !== 'number') numeric = false;
          const spread = s.n > 1;
          points.push({
            series: attackLabel(a), kind: a === 'clean' ? 'clean data' : 'attack', x: typeof v === 'number' ? v : String(v), acc: s.mean, n: s.n,
            spread: spreadText(s), lo: spread ? s.min : null, hi: spread ? s.max : null,
          });
          m.set(String(v), s);
        }
        byAttack.set(a, m);
      }
      return { points, used, byAttack, numeric };
    };
    const atMain = collect((c) => rs.isMain(c, [key]));
    const atDefault = collect((c) => rs.isDefault(c, [key]));
    const byDefault = atDefault.points.length > atMain.points.length;
    const { points, used, byAttack, numeric } = byDefault ? atDefault : atMain;
    // the average over the non-adaptive attacks that have every value (n: the cells behind it)
    const xs = [...new Set(points.map((p) => String(p.x)))];
    const full = [...byAttack].filter(([a, m]) => AVG_ATTACKS.includes(a) && xs.every((x) => m.has(x)));
    if (full.length >= 2)
      for (const x of xs)
        points.push({
          series: 'AVG', kind: 'average', x: numeric ? Number(x) : x, acc: full.reduce((s, [, m]) => s + m.get(x)!.mean, 0) / full.length,
          n: full.reduce((s, [, m]) => s + m.get(x)!.n, 0), spread: `mean of ${full.length} attacks' means`, lo: null, hi: null,
        });
    const paper = arch === 'resnet18' && numeric ? PAPER_SWEEP_AVG[key] : undefined;
    if (paper) for (const [x, acc] of paper) points.push({ series: 'paper AVG', kind: 'paper', x, acc, n: 8, spread: "the paper's average over its eight attacks", lo: null, hi: null });
    if (points.length === 0) continue;
    const withSpread = points.filter((p) => p.lo !== null).length;
    const series = [...attacks.map(attackLabel), 'AVG', 'paper AVG'].filter((s) => points.some((p) => p.series === s));
    const x = { field: 'x', type: numeric ? 'quantitative' : 'ordinal', title: optionLabel(key), ...(numeric ? { scale: { zero: false } } : {}) };
    const color = { field: 'series', type: 'nominal', title: 'attack', sort: series };
    const spec: TopLevelSpec = {
      $schema: SCHEMA,
      title: `${archLabel(arch)}, ECLIPSE: test accuracy vs ${optionLabel(key)}`,
      width: 420,
      height: 240,
      data: { values: points },
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x, color,
            y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
            strokeDash: { field: 'kind', type: 'nominal', sort: ['attack', 'clean data', 'average', 'paper'], legend: null },
            tooltip: [
              { field: 'series' }, { field: 'x', title: optionLabel(key) }, { field: 'acc', title: 'mean', format: '.1f' }, { field: 'n', title: 'n' }, { field: 'spread' },
            ],
          },
        },
        // the spread: min-max over the runs a point averages, where it averages more than one
        ...(withSpread
          ? [{
              transform: [{ filter: 'isValid(datum.lo)' }],
              mark: { type: 'errorbar', ticks: true },
              encoding: { x, color, y: { field: 'lo', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } }, y2: { field: 'hi' } },
            }]
          : []),
      ],
    } as TopLevelSpec;
    plots.push({
      id: `sweep-${arch}-${key}`,
      title: `ECLIPSE sweep of ${optionLabel(key)} (${archLabel(arch)})`,
      caption:
        `Test accuracy (%) of ECLIPSE cells against ${optionLabel(key)}, the other swept options at ${byDefault ? "the profile's values" : "the values of Table 1's cells"}, mean over runs (seeds)` +
        (withSpread ? `; error bars: min-max over the runs of the ${withSpread} point${withSpread > 1 ? 's' : ''} that average more than one (n in each point's tooltip)` : '') +
        '; one line per attack (clean = the clean-data cells)' +
        (full.length >= 2 ? `, AVG over ${full.map(([a]) => attackLabel(a)).join(', ')}` : '') +
        (paper ? "; dashed: the paper's average over its eight attacks (ResNet-18, paper profile)" : '') + '. ' + profileSentence(used),
      svg: await renderVegaLite(spec),
    });
  }
  return plots;
}

export async function curvePlots(rs: ResultSet, arch: string, artifactsDir: string): Promise<Plot[]> {
  const plots: Plot[] = [];
  const defenses = defenseOrder(rs.cells.filter((c) => c.architecture === arch).map((c) => c.defense));
  for (const d of defenses) {
    const attacks = attackOrder(rs.cells.filter((c) => c.architecture === arch && c.defense === d).map((c) => c.attack));
    // run: the cell's three seeds, so that runs of one attack are separate lines
    const values: { attack: string; seed: number; run: string; epoch: number; train_loss: number | null; test_acc: number | null }[] = [];
    for (const a of attacks)
      for (const c of rs.main(arch, d, a)) {
        const ms = readMetrics(artifactsDir, c);
        for (const m of ms ?? [])
          values.push({ attack: attackLabel(a), seed: c.seed, run: `seed ${c.seed} / poison ${c.poisonSeed} / defence ${c.defenseSeed}`, epoch: m.epoch, train_loss: Number.isFinite(m.train_loss) ? m.train_loss : null, test_acc: m.test_acc === undefined ? null : 100 * m.test_acc });
      }
    if (values.length === 0) continue;
    const order = attacks.map(attackLabel);
    const multiSeed = new Set(values.map((v) => v.run)).size > new Set(values.map((v) => v.attack)).size;
    const x = { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } };
    const layer = (field: string, title: string, extra: object = {}): object =>
      attackLinePanel({ x, field, title, extra, order, height: 200, tooltip: [{ field: 'attack' }, { field: 'run' }, { field: 'epoch' }, { field, format: '.3f' }], ...(multiSeed ? { encoding: { detail: { field: 'run', type: 'nominal' } } } : {}) });
    const spec = {
      $schema: SCHEMA,
      title: `${archLabel(arch)}, ${defenseLabel(d)}: training curves`,
      data: { values },
      hconcat: [layer('train_loss', 'train loss'), layer('test_acc', 'test accuracy (%)', { scale: { domain: [0, 100] } })],
    } as unknown as TopLevelSpec;
    plots.push({
      id: `curves-${arch}-${d}`,
      title: `Training curves: ${defenseLabel(d)} (${archLabel(arch)})`,
      caption: `Train loss and test accuracy per epoch (each main cell's classifier: its metrics.jsonl, else the curve kept with its result), one line per attack${multiSeed ? ' and run (classifier, poison and defence seed)' : ''}; test accuracy where the recipe evaluated.`,
      svg: await renderVegaLite(spec),
    });
  }
  return plots;
}

/**
 * One panel of a plot that draws a line per attack (filtered to the rows that have `field`): the
 * training curves and the purifier lines share it.
 */
export function attackLinePanel(o: { x: object; field: string; title: string; extra?: object; order: string[]; height: number; tooltip: object[]; encoding?: object }): object {
  return {
    width: 300,
    height: o.height,
    transform: [{ filter: `isValid(datum.${o.field})` }],
    mark: { type: 'line', point: true },
    encoding: {
      x: o.x,
      y: { field: o.field, type: 'quantitative', title: o.title, ...o.extra },
      color: { field: 'attack', type: 'nominal', title: 'attack', sort: o.order },
      ...o.encoding,
      tooltip: o.tooltip,
    },
  };
}
