// The report as one self-contained HTML page (inline CSS, inline SVG plots, images as data:
// URIs, no script, nothing fetched) and as Markdown (tables and notes; plots and images are
// named with a pointer to the HTML page).
import type { ReportModel, ReportTable, TableCell } from './model.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1.2em; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.7em; margin-bottom: .2em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; } h3 { font-size: 1.05em; margin: 1.6em 0 .4em; }
nav { font-size: 14px; margin: 1em 0 2em; } nav a { margin-right: 1.2em; color: #0b5cad; text-decoration: none; }
.summary p { margin: .3em 0; }
.tablewrap { overflow-x: auto; margin: .6em 0 .4em; }
table.data { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border: 1px solid #d8d8d8; padding: 3px 8px; white-space: nowrap; }
table.data thead th { background: #f3f4f6; text-align: center; }
table.data tbody th { text-align: left; background: #fafafa; font-weight: 600; }
table.data td { text-align: right; }
table.data td.missing { color: #aaa; }
.paper { color: #777; font-size: 12px; }
.mark { color: #b45309; font-weight: 600; }
.notes { color: #555; font-size: 13px; margin: .2em 0 1.2em; padding-left: 1.2em; }
figure { margin: 1.2em 0 1.8em; } figcaption { color: #555; font-size: 13px; max-width: 900px; }
figure.plot svg { display: block; max-width: 100%; height: auto; }
table.images { border-collapse: collapse; } table.images th { text-align: right; font-weight: 500; font-size: 13px; padding: 2px 10px 2px 0; color: #333; white-space: nowrap; }
table.images td { padding: 2px 0; } table.images img { display: block; image-rendering: pixelated; max-width: 100%; }
.intro { color: #444; }
footer { margin-top: 3em; border-top: 1px solid #ddd; padding-top: .8em; color: #555; font-size: 13px; }
`;

function htmlCell(c: TableCell): string {
  const title = c.title ? ` title="${esc(c.title)}"` : '';
  // "– (–)" says nothing twice: a missing number with no paper number is one dash
  const paper = c.paper !== undefined && (c.has || c.paper !== '–') ? `<span class="paper">(${esc(c.paper)})</span>` : '';
  const ours = c.best ? `<strong>${esc(c.ours)}</strong>` : c.second ? `<em>${esc(c.ours)}</em>` : esc(c.ours);
  const mark = c.mark ? ` <span class="mark">${esc(c.mark)}</span>` : '';
  return `<td${title}${c.has ? '' : ' class="missing"'}>${ours}${mark}${paper ? ` ${paper}` : ''}</td>`;
}

function htmlTable(t: ReportTable): string {
  const head = `<thead><tr>${t.columns.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr></thead>`;
  const body = t.rows.map((r) => `<tr><th scope="row">${esc(r.head)}</th>${r.cells.map(htmlCell).join('')}</tr>`).join('\n');
  const notes = t.notes.length ? `<ul class="notes">${t.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  return `<h3 id="${esc(t.id)}">${esc(t.title)}</h3>\n<div class="tablewrap"><table class="data">${head}<tbody>\n${body}\n</tbody></table></div>\n${notes}`;
}

export function renderHtml(m: ReportModel, generated: string): string {
  const nav = m.sections.map((s) => `<a href="#${esc(s.id)}">${esc(s.title)}</a>`).join('');
  const sections = m.sections
    .map((s) => {
      const parts = [`<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>`];
      for (const p of s.intro) parts.push(`<p class="intro">${esc(p)}</p>`);
      for (const t of s.tables) parts.push(htmlTable(t));
      for (const p of s.plots) parts.push(`<figure class="plot" id="${esc(p.id)}"><h3>${esc(p.title)}</h3>\n${p.svg}\n<figcaption>${esc(p.caption)}</figcaption></figure>`);
      for (const f of s.figures) {
        const rows = f.rows.map((r) => `<tr><th scope="row">${esc(r.label)}</th><td><img alt="${esc(r.label)}" src="data:image/png;base64,${r.png.toString('base64')}"></td></tr>`).join('\n');
        parts.push(`<figure class="images" id="${esc(f.id)}"><h3>${esc(f.title)}</h3>\n<table class="images"><tbody>\n${rows}\n</tbody></table>\n<figcaption>${esc(f.caption)}</figcaption></figure>`);
      }
      parts.push('</section>');
      return parts.join('\n');
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(m.title)}</title>
<style>${CSS}</style></head><body>
<h1>${esc(m.title)}</h1>
<div class="summary">${m.summary.map((s) => `<p>${esc(s)}</p>`).join('\n')}<p class="intro">Generated ${esc(generated)} by eclipse report.</p></div>
<nav>${nav}</nav>
${sections}
<footer>${m.footnotes.map((f) => `<p>${esc(f)}</p>`).join('\n')}</footer>
</body></html>
`;
}

const mdEsc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const mdCell = (c: TableCell): string => {
  const ours = `${c.best ? `**${c.ours}**` : c.second ? `*${c.ours}*` : c.ours}${c.mark ? ` ${c.mark}` : ''}`;
  return mdEsc(c.paper !== undefined && (c.has || c.paper !== '–') ? `${ours} (${c.paper})` : ours);
};

function mdTable(t: ReportTable): string {
  const lines = [`### ${t.title}`, '', `| ${t.columns.map(mdEsc).join(' | ')} |`, `| ${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of t.rows) lines.push(`| ${mdEsc(r.head)} | ${r.cells.map(mdCell).join(' | ')} |`);
  lines.push('');
  for (const n of t.notes) lines.push(`- ${n}`);
  return lines.join('\n');
}

export function renderMarkdown(m: ReportModel, generated: string): string {
  const out = [`# ${m.title}`, '', ...m.summary.flatMap((s) => [s, '']), `Generated ${generated} by eclipse report. Plots and images are in report.html (same folder).`, ''];
  for (const s of m.sections) {
    out.push(`## ${s.title}`, '');
    for (const p of s.intro) out.push(p, '');
    for (const t of s.tables) out.push(mdTable(t), '');
    for (const p of s.plots) out.push(`- Plot (report.html): **${p.title}**. ${p.caption}`);
    for (const f of s.figures) out.push(`- Figure (report.html): **${f.title}**: rows ${f.rows.map((r) => r.label).join('; ')}. ${f.caption}`);
    if (s.plots.length || s.figures.length) out.push('');
  }
  out.push('---', '', ...m.footnotes.flatMap((f) => [f, '']));
  return out.join('\n');
}
