#!/usr/bin/env node
// The tables of docs/results.md "How much is luck" (issue 28), from the matrix CSV: per attack,
// one row per poison draw with no defence, ISS-J, AVATAR and ECLIPSE at each defence seed, the
// draw's make-up, and what each seed moves. ResNet-18, classifier seed 0. Reads the CSV only.
//   node scripts/luck-tables.mjs [docs/results/mini-matrix.csv] [--attacks em,tap,rem,sep]
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { parseCsv } = await import(join(root, 'dist/src/matrix/db.js'));
const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const file = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : join(root, 'docs/results/mini-matrix.csv');
const attacks = arg('attacks', 'em,tap,rem,sep').split(',');
const spreadAttacks = arg('defence-only', 'ar,urp,lsp,efp').split(',');

const rows = parseCsv(readFileSync(file, 'utf8')).filter((r) => r.architecture === 'resnet18' && r.seed === '0' && r.options === '{}');
const acc = new Map(rows.map((r) => [`${r.attack}|${r.poison_seed}|${r.defense}|${r.defense_seed}`, 100 * Number(r.test_acc)]));
const makeup = new Map(rows.filter((r) => r.makeup_l2 !== '').map((r) => [`${r.attack}|${r.poison_seed}`, r]));
const get = (a, p, d, s = 0) => acc.get(`${a}|${p}|${d}|${s}`);
const f2 = (v) => (v === undefined ? 'not run' : v.toFixed(2));
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const range = (xs) => Math.max(...xs) - Math.min(...xs);
const stat = (xs) => (xs.length === 0 ? '' : xs.length === 1 ? `${xs[0].toFixed(2)} (n 1)` : `${mean(xs).toFixed(2)} (sd ${sd(xs).toFixed(2)}, n ${xs.length})`);
const eclipseOf = (a, p) => [0, 1, 2].map((s) => get(a, p, 'eclipse', s)).filter((v) => v !== undefined);

for (const a of attacks) {
  const draws = [...new Set(rows.filter((r) => r.attack === a && (r.defense === 'none' || r.defense === 'eclipse')).map((r) => Number(r.poison_seed)))].sort((x, y) => x - y);
  console.log(`\n**${a.toUpperCase()}** (${draws.length} poison draws)\n`);
  console.log('| poison seed | no defence | ISS-J | AVATAR | ECLIPSE, defence seed 0 / 1 / 2 | ECLIPSE draw mean | make-up: L2 / high-freq / class-wise / scan score |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const all = { none: [], 'iss-j': [], avatar: [], eclipse: [] };
  const drawMeans = [];
  const within = [];
  for (const p of draws) {
    const e = eclipseOf(a, p);
    for (const d of ['none', 'iss-j', 'avatar']) if (get(a, p, d) !== undefined) all[d].push(get(a, p, d));
    all.eclipse.push(...e);
    if (e.length) drawMeans.push(mean(e));
    if (e.length > 1) within.push(range(e));
    const m = makeup.get(`${a}|${p}`);
    const mt = m ? `${Number(m.makeup_l2).toFixed(2)} / ${(100 * Number(m.makeup_high_freq)).toFixed(1)}% / ${(100 * Number(m.makeup_classwise)).toFixed(1)}% / ${Number(m.makeup_scan_score).toFixed(1)}` : 'not recorded';
    console.log(`| ${p}${p === 0 ? ' (shipped)' : ''} | ${f2(get(a, p, 'none'))} | ${f2(get(a, p, 'iss-j'))} | ${f2(get(a, p, 'avatar'))} | ${[0, 1, 2].map((s) => f2(get(a, p, 'eclipse', s))).join(' / ')} | ${e.length ? `${mean(e).toFixed(2)}${e.length > 1 ? ` (range ${range(e).toFixed(1)})` : ''}` : ''} | ${mt} |`);
  }
  console.log(`| all cells, mean (sd, n) | ${stat(all.none)} | ${stat(all['iss-j'])} | ${stat(all.avatar)} | ${stat(all.eclipse)} | | |`);
  const parts = [];
  if (drawMeans.length > 1) parts.push(`poison seed: ECLIPSE's draw means span ${range(drawMeans).toFixed(1)} points over ${drawMeans.length} draws`);
  if (within.length) parts.push(`defence seed: ${within.map((w) => w.toFixed(1)).join(', ')} points within a draw`);
  for (const d of ['none', 'iss-j', 'avatar']) if (all[d].length > 1) parts.push(`${d === 'none' ? 'no defence' : d.toUpperCase()} spans ${range(all[d]).toFixed(1)} over ${all[d].length} draws`);
  // per draw, ECLIPSE's mean against the better of ISS-J and AVATAR on the same draw
  const versus = draws.flatMap((p) => {
    const e = eclipseOf(a, p);
    const b = ['iss-j', 'avatar'].map((d) => get(a, p, d)).filter((v) => v !== undefined);
    return e.length && b.length ? [`seed ${p}: ${(mean(e) - Math.max(...b)) >= 0 ? '+' : ''}${(mean(e) - Math.max(...b)).toFixed(1)}`] : [];
  });
  if (versus.length) parts.push(`ECLIPSE's draw mean minus the better of ISS-J and AVATAR on the same draw: ${versus.join(', ')}`);
  console.log(`\n- ${parts.join(';\n- ')}.`);
}

console.log('\n**ECLIPSE at three defence seeds on the shipped poison of the other attacks**\n');
console.log('| attack | defence seed 0 / 1 / 2 | mean (sd, n) | range |');
console.log('| --- | --- | --- | --- |');
for (const a of [...spreadAttacks, 'clean']) {
  const e = [0, 1, 2].map((s) => get(a, 0, 'eclipse', s));
  const have = e.filter((v) => v !== undefined);
  console.log(`| ${a === 'clean' ? 'clean data' : a.toUpperCase()} | ${e.map(f2).join(' / ')} | ${stat(have)} | ${have.length > 1 ? range(have).toFixed(1) : ''} |`);
}
