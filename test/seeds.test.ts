// Three seeds per result (issue 28): the poison seed, the defence seed and the classifier seed are
// each an axis of the matrix, in the cell key, the CSV and the report; seed 0 keeps today's cells.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { expandMatrix, parseMatrixConfig, resolveCell } from '../src/matrix/config.js';
import { saveDataset } from '../src/data/store.js';
import { parseCsv } from '../src/matrix/db.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const [major] = process.versions.node.split('.').map(Number);
const noSqlite = major! < 22 ? `node:sqlite needs Node.js 22+ (this is ${process.version})` : null;

const group = { attacks: ['urp', 'em'], defenses: ['none', 'eclipse', 'op'] };

test('config: poisonSeeds and defenseSeeds are axes; seed 0 is today\'s cell, other seeds are other cells', () => {
  const today = expandMatrix(parseMatrixConfig({ name: 't', profile: 'mini', groups: [group] }));
  const zero = expandMatrix(parseMatrixConfig({ name: 't', profile: 'mini', groups: [{ ...group, poisonSeeds: [0], defenseSeeds: [0] }] }));
  assert.deepEqual(zero.map((c) => c.hash), today.map((c) => c.hash), 'seed 0 on both axes: the same cells, the same hashes');
  const three = expandMatrix(parseMatrixConfig({ name: 't', profile: 'mini', groups: [{ ...group, poisonSeeds: [0, 1, 2], defenseSeeds: [0, 1] }] }));
  // 2 attacks x 3 defences x 3 poison seeds x 2 defence seeds, and the clean twins: 3 defences x 2 defence seeds
  assert.equal(three.length, 2 * 3 * 3 * 2 + 3 * 2);
  assert.equal(new Set(three.map((c) => c.hash)).size, three.length);
  for (const h of today.map((c) => c.hash)) assert.ok(three.some((c) => c.hash === h), 'today\'s cells are among them');
  const cell = three.find((c) => c.spec.attack === 'em' && c.spec.defense === 'eclipse' && c.poisonSeed === 2 && c.defenseSeed === 1)!;
  assert.match(cell.label, /em \/ eclipse \/ resnet18 \/ seed 0 \/ poison seed 2 \/ defence seed 1/);
  const twin = three.find((c) => c.spec.attack === 'clean' && c.spec.defense === 'eclipse' && c.defenseSeed === 1);
  assert.ok(twin && twin.poisonSeed === 0, 'a clean twin keeps the defence seed and has no poison seed');
  // the old spelling (the poisonSeed option) is the same cell as the axis
  const viaOption = resolveCell({ profile: 'mini', attack: 'em', defense: 'none', architecture: 'resnet18', seed: 0, options: { poisonSeed: 2 } });
  const viaAxis = resolveCell({ profile: 'mini', attack: 'em', defense: 'none', architecture: 'resnet18', seed: 0, poisonSeed: 2, options: {} });
  assert.equal(viaOption.hash, viaAxis.hash);
  assert.throws(() => parseMatrixConfig({ name: 't', profile: 'mini', groups: [{ ...group, poisonSeeds: [1], options: { poisonSeed: 1 } }] }), /give the poison seeds once/);
  assert.throws(() => parseMatrixConfig({ name: 't', profile: 'mini', groups: [{ ...group, defenseSeeds: [-1] }] }), /every seed in "defenseSeeds" must be an integer >= 0, got -1/);
});

test('config: a given poison file is its poison seed\'s; the other seeds make their own', () => {
  const c = parseMatrixConfig({ name: 't', profile: 'mini', cleanTwins: false, poisons: { em: { 0: '/p/em0', 1: '/p/em1' }, tap: '/p/tap0' }, groups: [{ attacks: ['em', 'tap'], defenses: ['none'], poisonSeeds: [0, 1, 2] }] });
  const file = (a: string, s: number): string | undefined => expandMatrix(c).find((x) => x.spec.attack === a && x.poisonSeed === s)!.spec.poisonFile;
  assert.deepEqual([file('em', 0), file('em', 1), file('em', 2)], ['/p/em0', '/p/em1', undefined]);
  assert.deepEqual([file('tap', 0), file('tap', 1)], ['/p/tap0', undefined], 'a plain path is poison seed 0');
  assert.throws(() => parseMatrixConfig({ name: 't', profile: 'mini', poisons: { em: { x: '/p' } }, groups: [group] }), /"x" is not a poison seed/);
});

test('matrix run: a new poison seed makes a new poison and purification but reuses the denoiser; a new defence seed the reverse; seed 0 cells stay done', { skip: noSqlite ?? false }, async () => {
  const tmp = makeTempDir();
  try {
    const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const data = { train: join(tmp.dir, 'train.safetensors'), test: join(tmp.dir, 'test.safetensors'), pool: join(tmp.dir, 'pool.safetensors') };
    await saveDataset(syntheticDataset({ classes, perClass: 4, seed: 1 }), data.train);
    await saveDataset(syntheticDataset({ classes, perClass: 2, seed: 2 }), data.test);
    await saveDataset(syntheticDataset({ classes, perClass: 3, seed: 3 }), data.pool);
    const config = (g: Record<string, unknown>): string => {
      const path = join(tmp.dir, 'm.json');
      writeFileSync(path, JSON.stringify({ name: 'm', profile: 'smoke', data, cleanTwins: false, options: { epochs: 1, width: 2 }, groups: [{ attacks: ['urp'], defenses: ['eclipse'], ...g }] }));
      return path;
    };
    const art = join(tmp.dir, 'art');
    const run = (cfg: string, ...more: string[]): { code: number; out: string } => {
      const r = spawnSync(process.execPath, [bin, 'matrix', 'run', cfg, '--db', join(tmp.dir, 'r.sqlite'), '--artifacts', art, '--threads', '1', '--quiet', ...more], { encoding: 'utf8' });
      return { code: r.status ?? -1, out: r.stdout + r.stderr };
    };
    // poisons are files, denoisers and purified sets folders (named by the hash of their inputs)
    const count = (sub: string): number =>
      readdirSync(join(art, sub), { withFileTypes: true }).filter((f) => (sub === 'poisons' ? f.isFile() && f.name.endsWith('.safetensors') : f.isDirectory())).length;
    const first = run(config({}));
    assert.equal(first.code, 0, first.out);
    const [poisons, denoisers, purified] = [count('poisons'), count('denoisers'), count('purified')];
    const poisonSeed = run(config({ poisonSeeds: [0, 1] }));
    assert.equal(poisonSeed.code, 0, poisonSeed.out);
    assert.match(poisonSeed.out, /ran 1, already finished 1/, 'seed 0 stays done; poison seed 1 runs');
    assert.deepEqual([count('poisons'), count('denoisers'), count('purified')], [poisons + 1, denoisers, purified + 1], 'poison seed 1: a new poison, purified by the same denoiser');
    const defenseSeed = run(config({ poisonSeeds: [0, 1], defenseSeeds: [0, 1] }));
    assert.equal(defenseSeed.code, 0, defenseSeed.out);
    assert.match(defenseSeed.out, /ran 2, already finished 2/);
    assert.equal(count('denoisers'), denoisers + 1, 'defence seed 1: one new denoiser, shared by both poisons');
    assert.equal(count('purified'), purified + 3, 'and each poison purified by it');
    const csv = spawnSync(process.execPath, [bin, 'matrix', 'export', '--db', join(tmp.dir, 'r.sqlite')], { encoding: 'utf8' }).stdout.split('\n');
    const head = csv[0]!.split(',');
    assert.ok(head.includes('poison_seed') && head.includes('defense_seed'), csv[0]);
    const pairs = csv.slice(1).filter(Boolean).map((l) => `${l.split(',')[head.indexOf('poison_seed')]}/${l.split(',')[head.indexOf('defense_seed')]}`).sort();
    assert.deepEqual(pairs, ['0/0', '0/1', '1/0', '1/1']);
    // every poison's make-up is in the CSV: URP is class-wise through and through
    // (clamping to [0, 255] makes a few pixels differ from the class's noise)
    for (const row of parseCsv(csv.join('\n'))) {
      assert.ok(Number(row.makeup_l2) > 0, row.label);
      assert.ok(Number(row.makeup_classwise) > 0.95, `${row.label}: ${row.makeup_classwise}`);
      // what purification left, measured on the purified set itself (not read from its metadata)
      assert.ok(Number(row.purified_l2) > 0 && Number(row.purified_l2) !== Number(row.makeup_l2), `${row.label}: purified ${row.purified_l2}, poison ${row.makeup_l2}`);
      assert.ok(Number(row.purified_classwise) >= 0 && Number(row.purified_classwise) <= 1, `${row.label}: ${row.purified_classwise}`);
    }
    // ECLIPSE's cost by stage, each the build time of the stage whichever cell built it: the two
    // cells of a defence seed share one denoiser, so they record its one time
    const rows = parseCsv(csv.join('\n'));
    const times = rows.map((r) => ({ d: r.defense_seed, t: (JSON.parse(r.extra) as { stage_seconds: Record<string, number | null> }).stage_seconds }));
    for (const { t } of times) for (const k of ['denoiser', 'purify', 'purified_makeup', 'classifier']) assert.ok(t[k]! > 0, `${k}: ${JSON.stringify(t)}`);
    for (const d of ['0', '1']) assert.equal(new Set(times.filter((x) => x.d === d).map((x) => x.t.denoiser)).size, 1, `defence seed ${d}: one denoiser time`);
    // measured once per purified set
    assert.equal(readdirSync(join(art, 'makeup')).filter((f) => /^[0-9a-f]{16}-[0-9a-f]{16}\.json$/.test(f)).length, count('purified'));
    // a given poison made with another seed than the one it is listed under is refused, not used
    const made = join(tmp.dir, 'urp-seed1.safetensors');
    const p = spawnSync(process.execPath, [bin, 'poison', '--attack', 'urp', '--in', data.train, '--out', made, '--seed', '1', '--quiet'], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    const wrong = join(tmp.dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ name: 'w', profile: 'smoke', data, cleanTwins: false, poisons: { urp: made }, options: { epochs: 1, width: 2 }, groups: [{ attacks: ['urp'], defenses: ['none'] }] }));
    const w = spawnSync(process.execPath, [bin, 'matrix', 'run', wrong, '--db', join(tmp.dir, 'w.sqlite'), '--artifacts', join(tmp.dir, 'w-art'), '--quiet'], { encoding: 'utf8' });
    assert.notEqual(w.status, 0);
    assert.match(w.stdout + w.stderr, /was made with seed 1, but it is given as the urp poison of poison seed 0/);
  } finally {
    tmp.cleanup();
  }
});
