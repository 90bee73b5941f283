// The demo's HTML report: one self-contained page (images inlined) with the accuracy table,
// the purification PSNR numbers and the clean / poisoned / noised / purified grid.

export interface ReportRow {
  name: string;
  description: string;
  /** test accuracy per seed, in [0,1] */
  accs: number[];
}

export interface ReportInput {
  title: string;
  subtitle: string;
  rows: ReportRow[];
  /** label -> value lines (PSNR, timings, settings) */
  facts: [string, string][];
  /** PNG bytes of the image grid and its caption */
  grid: { png: Uint8Array; caption: string } | null;
  notes: string[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
export const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export function renderReport(r: ReportInput): string {
  const rows = r.rows
    .map(
      (row) =>
        `<tr><td><b>${esc(row.name)}</b></td><td>${esc(row.description)}</td>${row.accs.map((a) => `<td>${pct(a)}</td>`).join('')}<td><b>${pct(mean(row.accs))}</b></td></tr>`,
    )
    .join('\n');
  const seeds = r.rows[0]?.accs.map((_, i) => `<th>seed ${i}</th>`).join('') ?? '';
  const facts = r.facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('\n');
  const grid = r.grid
    ? `<figure><img alt="image grid" src="data:image/png;base64,${Buffer.from(r.grid.png).toString('base64')}"><figcaption>${esc(r.grid.caption)}</figcaption></figure>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
th { background: #f4f4f4; } figure { margin: 1.5em 0; } img { image-rendering: pixelated; max-width: 100%; }
figcaption, .note { color: #555; font-size: 13px; }
</style></head><body>
<h1>${esc(r.title)}</h1>
<p>${esc(r.subtitle)}</p>
<h2>Test accuracy on clean test images</h2>
<table><tr><th>run</th><th>training data</th>${seeds}<th>mean</th></tr>
${rows}
</table>
<h2>Purification</h2>
<table>${facts}</table>
${grid}
${r.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('\n')}
</body></html>
`;
}
