// The scan's short HTML page: verdict, the evidence against clean data (a Vega-Lite plot),
// the classes and the estimated poisoned share. Self-contained (inline SVG, no script).
import { renderVegaLite } from '../report/vega.js';
import { formatStat, type ScanResult } from './scan.js';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–');

export async function scanPage(r: ScanResult, name: string): Promise<string> {
  const rows = r.evidence.flatMap((e) => [
    { statistic: e.stat, kind: 'this data', value: 100 * e.value, lo: 100 * e.value, hi: 100 * e.value },
    { statistic: e.stat, kind: 'clean data (mean ± 3 sd)', value: 100 * e.clean.mean, lo: 100 * (e.clean.mean - 3 * e.clean.std), hi: 100 * (e.clean.mean + 3 * e.clean.std) },
  ]);
  const plot = rows.length
    ? await renderVegaLite({
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        width: 420,
        height: { step: 22 },
        data: { values: rows },
        layer: [
          { mark: { type: 'rule', strokeWidth: 3, opacity: 0.5 }, encoding: { y: { field: 'statistic', type: 'nominal', title: null }, x: { field: 'lo', type: 'quantitative', title: 'percent (smoothness x 100)' }, x2: { field: 'hi' }, color: { field: 'kind', type: 'nominal', title: null } } },
          { mark: { type: 'point', filled: true, size: 80 }, encoding: { y: { field: 'statistic', type: 'nominal' }, x: { field: 'value', type: 'quantitative' }, color: { field: 'kind', type: 'nominal' } } },
        ],
      })
    : '<p>No statistic could be computed (see the reasons).</p>';
  const colour = r.verdict === 'poisoned' ? '#b00020' : r.verdict === 'clean' ? '#1b7f3b' : '#9a6700';
  return `<!doctype html><html><head><meta charset="utf-8"><title>eclipse scan: ${esc(name)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.v{font-size:1.6em;color:${colour}}</style></head><body>
<h1>eclipse scan: ${esc(name)}</h1>
<p class="v">verdict: <b>${r.verdict}</b> (score ${Number.isFinite(r.score) ? r.score.toFixed(1) : '–'}: z of the strongest statistic; poisoned from 6, clean below 4)</p>
<ul>${r.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
<p>${r.n} images; estimated poisoned share <b>${pct(r.poisonedShare.estimate)}</b> (${esc(r.poisonedShare.method)}). Scan took ${r.seconds.toFixed(0)} s.</p>
<h2>Evidence against clean data</h2>${plot}
<table><tr><th>statistic</th><th>this data</th><th>clean mean</th><th>clean sd</th><th>z</th><th>what</th></tr>
${r.evidence.map((e) => `<tr><td>${e.stat}</td><td>${formatStat(e.stat, e.value)}</td><td>${formatStat(e.stat, e.clean.mean)}</td><td>${formatStat(e.stat, e.clean.std)}</td><td>${e.z.toFixed(1)}</td><td style="text-align:left">${esc(e.what)}</td></tr>`).join('\n')}</table>
<h2>Classes</h2><table><tr><th>class</th><th>raw-pixel probe</th><th>high-pass probe</th><th>autocorrelation probe</th><th>z</th><th>stands out</th></tr>
${r.classes.map((c) => `<tr><td>${esc(c.name)}</td><td>${pct(c.raw)}</td><td>${pct(c.highpass)}</td><td>${pct(c.autocorr)}</td><td>${Number.isFinite(c.z) ? c.z.toFixed(1) : '–'}</td><td>${c.flagged ? 'yes' : ''}</td></tr>`).join('\n')}</table>
<p><small>Calibration: ${esc(r.calibration)}.</small></p></body></html>
`;
}
