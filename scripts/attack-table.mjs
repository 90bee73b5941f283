#!/usr/bin/env node
// Prints the Markdown results table of the model-based attacks at mini (docs/results.md, issue 9)
// from what scripts/attack-eval.sh left: the poison's metadata (setting, norms), its generation
// time, and each victim's result.json. Missing runs print as "-".
//   node scripts/attack-table.mjs [attack ...]   (default: every attack with a runs folder)
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const runs = join(root, 'runs', 'attacks-mini');
const data = join(root, 'data', 'cifar10-mini');

const acc = (dir) => {
  const f = join(dir, 'result.json');
  return existsSync(f) ? 100 * JSON.parse(readFileSync(f, 'utf8')).testAcc : null;
};
const pair = (a, b) => (a === null && b === null ? '-' : `${a?.toFixed(2) ?? '-'} / ${b?.toFixed(2) ?? '-'}`);
const mean = (a, b) => (a !== null && b !== null ? ((a + b) / 2).toFixed(2) : '-');

/** The safetensors header's metadata (the 8-byte length, then JSON). */
function metadata(file) {
  if (!existsSync(file)) return null;
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8')).__metadata__ ?? {};
}

const attacks = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync(runs).filter((d) => d !== 'denoiser-cache');
console.log('| attack | mini setting | generation | L_inf max / mean L2 | no defence (s0 / s1, mean) | compensation only | ECLIPSE |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const a of attacks) {
  const dir = join(runs, a);
  const meta = metadata(join(data, `poison-${a}-s0.safetensors`)) ?? {};
  const log = existsSync(join(dir, 'poison.txt')) ? readFileSync(join(dir, 'poison.txt'), 'utf8') : '';
  const gen = /generation_seconds (\d+)/.exec(log)?.[1];
  const setting = meta.attack_setting ?? meta.tap_setting ?? '-';
  const norms = meta.linf_max ? `${meta.linf_max}/255, ${Number(meta.l2_mean).toFixed(2)}` : '-';
  const row = (sub) => [acc(join(dir, sub(0))), acc(join(dir, sub(1)))];
  const [n0, n1] = row((s) => `none-s${s}`);
  const [c0, c1] = row((s) => join('comp', `classifier-seed${s}`));
  const [e0, e1] = row((s) => join('eclipse', `classifier-seed${s}`));
  console.log(
    `| ${a} | ${setting.split(':')[0]} | ${gen ? `${(gen / 60).toFixed(1)} min` : '-'} | ${norms} | ${pair(n0, n1)} (${mean(n0, n1)}) | ` +
      `${pair(c0, c1)} (${mean(c0, c1)}) | ${pair(e0, e1)} (${mean(e0, e1)}) |`,
  );
}
