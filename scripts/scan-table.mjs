#!/usr/bin/env node
// The scan's measured tables for docs/results.md, from runs/scan-eval.jsonl (scripts/scan-eval.mjs):
// detection per attack at 100%, the false-positive rate on clean subsets, and the detection
// curve against the poisoned share.   node scripts/scan-table.mjs [FILE]
// Side by side, the scan and the published detectors (scripts/scan-eval.mjs --detector ...):
//   node scripts/scan-table.mjs --compare FILE FILE ...   (one column per file, named by its detector)
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// one row per id (the last): two processes sharing a run can both finish the same scan
const readRows = (f) => [...new Map(readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((r) => [r.id, r])).values()];
const { ATTACKS: REGISTRY, ATTACK_NAMES: ATTACKS } = await import(join(root, 'dist/src/attacks/index.js'));
const pct = (x) => `${(100 * x).toFixed(0)}%`;
const out = [];

if (process.argv[2] === '--compare') {
  // One column per detector: P = called poisoned, c = clean, ? = unsure; the number is the
  // detector's statistic (the scan's score z; a detector's validation accuracy in %).
  const files = process.argv.slice(3);
  const sets = files.map((f) => {
    const rs = readRows(f);
    const d = rs.find((r) => r.detector);
    // scan-stat-eval rows (before/after a statistic): their "after" verdict and score
    if (rs[0]?.after) return { name: `eclipse scan, with ${Object.keys(rs[0].stats).join(' and ')}`, rows: rs.map((r) => ({ ...r, ...r.after })) };
    return { name: d ? `${d.detector} (${d.variant})` : 'eclipse scan', rows: rs };
  });
  const mark = (r) => (r ? `${{ poisoned: 'P', clean: 'c', unsure: '?' }[r.verdict]} ${r.detector ? (100 * r.validation_acc).toFixed(0) : r.score.toFixed(1)}` : '-');
  const shares = [...new Set(sets.flatMap((s) => s.rows.filter((r) => r.kind === 'attack').map((r) => r.share)))].sort((a, b) => b - a);
  out.push(`Verdict per detector (P poisoned, c clean, ? unsure) and its statistic (scan: largest z; simple networks: validation accuracy %, bound 70), at each share of poisoned images:`, '');
  out.push(`| attack | share | ${sets.map((s) => s.name).join(' | ')} |`, `| --- | --- | ${sets.map(() => '---').join(' | ')} |`);
  for (const a of ATTACKS)
    for (const sh of shares) {
      const cells = sets.map((s) => mark(s.rows.find((r) => r.kind === 'attack' && r.attack === a && r.share === sh)));
      if (cells.some((c) => c !== '-')) out.push(`| ${REGISTRY[a].label} | ${pct(sh)} | ${cells.join(' | ')} |`);
    }
  out.push('', '| detector | detected at 100% | at 50% | at 25% | at 10% | clean subsets flagged (false positives) | largest clean statistic |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const s of sets) {
    const at = (sh) => {
      const rs = s.rows.filter((r) => r.kind === 'attack' && r.share === sh);
      return rs.length ? `${rs.filter((r) => r.verdict === 'poisoned').length}/${rs.length}` : '-';
    };
    const clean = s.rows.filter((r) => r.kind === 'clean');
    const top = clean.length ? Math.max(...clean.map((r) => (r.detector ? 100 * r.validation_acc : r.score))).toFixed(1) : '-';
    out.push(`| ${s.name} | ${at(1)} | ${at(0.5)} | ${at(0.25)} | ${at(0.1)} | ${clean.filter((r) => r.verdict === 'poisoned').length}/${clean.length} | ${top} |`);
  }
  console.log(out.join('\n'));
  process.exit(0);
}
const file = process.argv[2] ?? join(root, 'runs', 'scan-eval.jsonl');
const rows = readRows(file);

const full = rows.filter((r) => r.kind === 'attack' && r.share === 1);
out.push('Every image poisoned (the mini training set, 5,000 images):', '');
out.push('| attack | verdict | score (largest z) | strongest evidence | estimated poisoned share | classes flagged | scan time |', '| --- | --- | --- | --- | --- | --- | --- |');
for (const a of ATTACKS) {
  const r = full.find((x) => x.attack === a);
  if (!r) {
    out.push(`| ${REGISTRY[a].label} | not measured yet | | | | | |`);
    continue;
  }
  const top = Object.entries(r.evidence).sort((x, y) => y[1][1] - x[1][1])[0];
  out.push(`| ${REGISTRY[a].label} | ${r.verdict} | ${r.score.toFixed(1)} | ${top[0]} (z ${top[1][1].toFixed(1)}) | ${pct(r.share_estimate)} | ${r.flagged_classes.length} | ${r.seconds.toFixed(0)} s |`);
}
const detected = full.filter((r) => r.verdict === 'poisoned').length;
out.push('', `Detection rate at 100%: ${detected}/${full.length} attacks measured flagged poisoned.`, '');

const clean = rows.filter((r) => r.kind === 'clean');
if (clean.length) {
  const by = (v) => clean.filter((r) => r.verdict === v).length;
  const sizes = [...new Set(clean.map((r) => r.n))].sort((a, b) => a - b);
  out.push(`Clean CIFAR-10 training subsets (${clean.length}: sizes ${sizes.join('/')}, seeds ${Math.min(...clean.map((r) => r.seed))}-${Math.max(...clean.map((r) => r.seed))}, draws other than the calibration's):`, '');
  out.push('| images | subsets | clean | unsure | poisoned (false positive) | largest score |', '| --- | --- | --- | --- | --- | --- |');
  for (const n of sizes) {
    const c = clean.filter((r) => r.n === n);
    out.push(`| ${n} | ${c.length} | ${c.filter((r) => r.verdict === 'clean').length} | ${c.filter((r) => r.verdict === 'unsure').length} | ${c.filter((r) => r.verdict === 'poisoned').length} | ${Math.max(...c.map((r) => r.score)).toFixed(1)} |`);
  }
  out.push('', `False-positive rate: ${by('poisoned')}/${clean.length} (${pct(by('poisoned') / clean.length)}) flagged poisoned; ${by('unsure')}/${clean.length} unsure.`, '');
}

const shares = [...new Set(rows.filter((r) => r.kind === 'attack').map((r) => r.share))].sort((a, b) => a - b);
if (shares.length > 1) {
  out.push('Detection curve: verdict (score, estimated share) against the share of poisoned images:', '');
  out.push(`| attack | ${shares.map((s) => pct(s)).join(' | ')} |`, `| --- | ${shares.map(() => '---').join(' | ')} |`);
  for (const a of ATTACKS) {
    const cells = shares.map((s) => {
      const r = rows.find((x) => x.kind === 'attack' && x.attack === a && x.share === s);
      return r ? `${r.verdict} (${r.score.toFixed(1)}, ${pct(r.share_estimate)})` : '-';
    });
    if (cells.some((c) => c !== '-')) out.push(`| ${REGISTRY[a].label} | ${cells.join(' | ')} |`);
  }
}
console.log(out.join('\n'));
