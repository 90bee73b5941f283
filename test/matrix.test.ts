// The matrix runner (issue 10): config checking, cell hashing, the SQLite results database
// (claims, leases, history, damage), and the runner killed mid-cell or run twice at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { cleanTwinHash, expandMatrix, parseMatrixConfig, resolveCell, type ResolvedCell } from '../src/matrix/config.js';
import { saveDataset } from '../src/data/store.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const tmp = makeTempDir('eclipse-matrix-');
test.after(() => tmp.cleanup());
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const [major] = process.versions.node.split('.').map(Number);
const noSqlite = major! < 22 ? `node:sqlite needs Node.js 22+ (this is ${process.version}; CI runs this file on Node 22 and 24)` : null;

const base = { name: 't', profile: 'smoke', groups: [{ attacks: ['em', 'urp'], defenses: ['none', 'eclipse'] }] };

test('config: unknown names and options are clear errors with the nearest name', () => {
  const bad = (patch: Record<string, unknown>, re: RegExp): void => assert.throws(() => parseMatrixConfig({ ...base, ...patch }), re);
  bad({ groups: [{ attacks: ['emm'], defenses: ['none'] }] }, /unknown attack "emm" \(did you mean em\?\)/);
  bad({ groups: [{ attacks: ['em'], defenses: ['isg-g'] }] }, /unknown defense "isg-g" \(did you mean iss-g\?\)/);
  bad({ groups: [{ attacks: ['em'], defenses: ['none'], architectures: ['resnet81'] }] }, /unknown architecture "resnet81" \(did you mean resnet18\?\)/);
  bad({ options: { tstar: 50 } }, /unknown option "tstar" \(did you mean tStar\?\)/);
  bad({ options: { tStar: 'x' } }, /option tStar must be an integer/);
  bad({ profle: 'mini' }, /unknown key "profle" \(did you mean profile\?\)/);
  bad({ groups: [] }, /non-empty list/);
  assert.throws(() => expandMatrix(parseMatrixConfig({ ...base, groups: [{ attacks: ['em'], defenses: ['none'], sweep: { tStar: [50] } }] })), /tStar is an ECLIPSE option/);
  assert.throws(() => expandMatrix(parseMatrixConfig({ ...base, groups: [{ attacks: ['em'], defenses: ['at'], options: { 'defense.stpes': 2 } }] })), /at defence has no setting "stpes" \(did you mean steps\?\)/);
  assert.throws(() => expandMatrix(parseMatrixConfig({ ...base, groups: [{ attacks: ['em'], defenses: ['none'], options: { 'attack.steps': 0 } }] })), /attack\.steps for the em attack must be an integer >= 1, got 0/);
});

test('config: every option is checked when the config loads, naming the option, its group, its range and the value (issue 23, case 7)', () => {
  const bad = (patch: Record<string, unknown>, re: RegExp): void => assert.throws(() => parseMatrixConfig({ ...base, ...patch }, 'c.json'), re);
  const group = (g: Record<string, unknown>): Record<string, unknown> => ({ groups: [{ attacks: ['em'], defenses: ['eclipse'], ...g }] });
  // ECLIPSE options, in the range the profile allows (smoke's denoiser sees t <= 100 only)
  bad(group({ options: { tStar: -5 } }), /^Error: c\.json group 1 options: option tStar must be an integer in 1\.\.100 at the smoke profile, got -5$/);
  bad({ options: { tStar: 101 } }, /c\.json options: option tStar must be an integer in 1\.\.100 at the smoke profile, got 101/);
  assert.doesNotThrow(() => parseMatrixConfig({ ...base, profile: 'paper', ...group({ options: { tStar: 4000 } }) }), 'paper purifies up to T');
  bad({ profile: 'paper', ...group({ sweep: { tStar: [50, 4001] } }) }, /c\.json group 1 sweep: option tStar must be an integer in 1\.\.4000 at the paper profile, got 4001/);
  // a denoiser trained on more steps (trainMaxT) purifies from further (issue 25's t* = 150 at mini)
  const t150 = expandMatrix(parseMatrixConfig({ ...base, ...group({ options: { trainMaxT: 200 }, sweep: { tStar: [50, 150] } }) }));
  assert.deepEqual(t150.filter((c) => c.spec.attack === 'em').map((c) => [c.eclipse!.profile.purify.tStar, c.eclipse!.profile.denoiser.trainMaxT]), [[50, 200], [150, 200]]);
  assert.doesNotThrow(() => parseMatrixConfig({ ...base, ...group({ options: { trainMaxT: 0, tStar: 3000 } }) }), 'trainMaxT 0: every step');
  bad(group({ options: { trainMaxT: 200, tStar: 201 } }), /c\.json group 1 options: option tStar must be an integer in 1\.\.200 at the smoke profile with trainMaxT 200, got 201/);
  // each scope is checked at its widest; the one cell that pairs t* 150 with trainMaxT 100 is refused by name
  bad(group({ sweep: { trainMaxT: [100, 200], tStar: [150] } }), /c\.json group 1, cell em\/eclipse\/resnet18\/seed 0: tStar 150 is past the 100 steps its denoiser learns \(trainMaxT 100\): raise trainMaxT to at least 150, or 0 for every step/);
  bad(group({ options: { respacedSteps: -1 } }), /option respacedSteps must be an integer in 0\.\.4000 at the smoke profile, got -1/);
  bad(group({ options: { M: 0 } }), /option M must be an integer >= 1, got 0/);
  bad(group({ options: { B: 2.5 } }), /option B must be an integer >= 1, got 2\.5/);
  bad(group({ options: { iterations: 0 } }), /option iterations must be an integer >= 1, got 0/);
  bad(group({ options: { p: 1.5 } }), /option p must be a number in 0\.\.1, got 1\.5/);
  bad(group({ sweep: { sigma: [0.05, -0.1] } }), /group 1 sweep: option sigma must be a number in 0\.\.1, got -0\.1/);
  // the classifier's recipe and the poison's seed
  bad({ options: { epochs: 0 } }, /option epochs must be an integer >= 1, got 0/);
  bad({ options: { lr: -0.1 } }, /option lr must be a number in 0\.000001\.\.10, got -0\.1/);
  bad({ options: { batchSize: 0 } }, /option batchSize must be an integer >= 1, got 0/);
  bad({ options: { width: 1e300 } }, /option width must be an integer >= 1, got 1e\+300/);
  bad({ options: { poisonSeed: -1 } }, /option poisonSeed must be an integer >= 0, got -1/);
  // seeds: integers >= 0, and at least one
  bad(group({ seeds: [0, -1] }), /c\.json group 1: every seed in "seeds" must be an integer >= 0, got -1/);
  bad(group({ seeds: [0.5] }), /every seed in "seeds" must be an integer >= 0, got 0\.5/);
  bad(group({ seeds: [] }), /c\.json group 1: "seeds" must be a non-empty list of integers >= 0, got \[\]/);
  // attack and defence settings against their tables, when the config loads (not when a cell runs)
  bad({ groups: [{ attacks: ['em'], defenses: ['none'] }, { attacks: ['em'], defenses: ['none'], options: { 'attack.steps': 0 } }] }, /c\.json group 2: attack\.steps for the em attack must be an integer >= 1, got 0/);
  bad({ groups: [{ attacks: ['em', 'urp'], defenses: ['none'], options: { 'attack.steps': 3 } }] }, /attack\.steps is set, but the urp attack has no settings/);
  bad({ groups: [{ attacks: ['em'], defenses: ['at'], sweep: { 'defense.eps': [0.1, 2] } }] }, /c\.json group 1: defense\.eps for the at defence must be a number in 0\.\.1, got 2/);
  bad({ groups: [{ attacks: ['em'], defenses: ['at'], options: { 'defense.stpes': 2 } }] }, /c\.json group 1: the at defence has no setting "stpes" \(did you mean steps\?\)/);
  bad({ options: { 'attack.stepFraction': 3 }, groups: [{ attacks: ['em'], defenses: ['none'] }] }, /group 1: attack\.stepFraction for the em attack must be a number in 0\.\.1, got 3/);
  // what only a whole cell shows is found at load too, with its group and cell
  bad({ groups: [{ attacks: ['em'], defenses: ['none'], options: { tStar: 50 } }] }, /c\.json group 1, cell em\/none\/resnet18\/seed 0: tStar is an ECLIPSE option/);
  bad({ cleanTwins: 'no' }, /"cleanTwins" must be true or false, got "no"/);
});

test('the shipped matrix configs load: every group expands, the sensitivity study shares the main cells\' database and data', () => {
  const dir = join(import.meta.dirname, '..', '..', 'configs');
  const configs = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => ({ f, raw: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown> })).filter((c) => 'groups' in c.raw);
  assert.ok(configs.some((c) => c.f === 'mini-matrix.json') && configs.some((c) => c.f === 'mini-sensitivity.json'), configs.map((c) => c.f).join());
  const cells = new Map(configs.map((c) => [c.f, expandMatrix(parseMatrixConfig(c.raw, c.f))]));
  assert.ok(cells.get('mini-sensitivity.json')!.length > 100);
  const main = configs.find((c) => c.f === 'mini-matrix.json')!.raw;
  const sens = configs.find((c) => c.f === 'mini-sensitivity.json')!.raw;
  assert.deepEqual([sens.name, sens.profile, sens.poisons], [main.name, main.profile, main.poisons]);
  // its t* table purifies from one denoiser trained on t <= 150: t* 100 there is not the main cell
  const tStar = cells.get('mini-sensitivity.json')!.filter((c) => c.spec.attack === 'sep' && c.spec.options.trainMaxT === 150);
  assert.deepEqual(tStar.map((c) => c.eclipse!.profile.purify.tStar), [50, 100, 150]);
  const mainSep = cells.get('mini-matrix.json')!.find((c) => c.spec.attack === 'sep' && c.spec.defense === 'eclipse' && c.poisonSeed === 0 && !c.defenseSeed)!;
  assert.ok(!tStar.some((c) => c.hash === mainSep.hash));
});

test('config: the name stays inside runs/ (issue 23, case 8)', () => {
  for (const name of ['../x', '../../etc', '/tmp/abs', 'a/b', 'a\\b', '', 'x y', 5])
    assert.throws(() => parseMatrixConfig({ ...base, name }, 'c.json'), /^Error: c\.json: "name" must be 1 to 100 letters, digits, dots, dashes or underscores \(it names the folder runs\/matrix-<name>\/\), got /, String(name));
  assert.equal(parseMatrixConfig({ ...base, name: 'mini-1.0_b' }).name, 'mini-1.0_b');
});

test('matrix run --dry-run refuses a bad option, a bad name and a --only that matches nothing, in one line, writing nothing', () => {
  const dir = join(tmp.dir, 'dry-bad');
  mkdirSync(dir, { recursive: true });
  const dry = (config: unknown, ...more: string[]): ReturnType<typeof spawnSync> => {
    writeFileSync(join(dir, 'c.json'), JSON.stringify(config));
    return spawnSync(process.execPath, [bin, 'matrix', 'run', 'c.json', '--dry-run', ...more], { cwd: dir, env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' }, encoding: 'utf8' });
  };
  const oneLine = (r: ReturnType<typeof spawnSync>, re: RegExp): void => {
    assert.notEqual(r.status, 0, String(r.stdout));
    const lines = String(r.stderr).split('\n').filter((l) => l.startsWith('eclipse matrix:'));
    assert.equal(lines.length, 1, String(r.stderr));
    assert.match(lines[0]!, re);
  };
  oneLine(dry({ ...base, groups: [{ attacks: ['em'], defenses: ['eclipse'], options: { tStar: -5 } }] }), /c\.json group 1 options: option tStar must be an integer in 1\.\.100 at the smoke profile, got -5/);
  oneLine(dry({ ...base, name: '../escape' }), /"name" must be 1 to 100 letters/);
  oneLine(dry(base, '--only', 'emm'), /--only "emm" matches none of the \d+ cells/);
  assert.deepEqual(readdirSync(dir), ['c.json'], 'nothing was written');
});

test('cells: one per combination, hashed by the resolved recipe, clean twins added once', () => {
  const c = parseMatrixConfig({ ...base, groups: [{ attacks: ['em', 'urp'], defenses: ['none', 'eclipse'], seeds: [0, 1], sweep: { sigma: [0.05, 0.1] } }] });
  const cells = expandMatrix(c);
  // 2 attacks x 2 defences x 2 seeds x 2 sigmas = 16 poisoned cells; sigma does not change 'none' cells
  // (its compensation is off), so those collapse: em/urp x none x seeds = 4, plus eclipse 8; twins: 2 + 4
  const poisoned = cells.filter((x) => x.spec.attack !== 'clean');
  const clean = cells.filter((x) => x.spec.attack === 'clean');
  assert.equal(poisoned.length, 12);
  assert.equal(clean.length, 6);
  assert.equal(new Set(cells.map((x) => x.hash)).size, cells.length);
  for (const x of poisoned) assert.ok(clean.some((k) => k.hash === cleanTwinHash(x)), `${x.label} has its clean twin`);
  // the same recipe spelt differently is the same cell; a changed setting is another cell
  const a = resolveCell({ profile: 'smoke', attack: 'em', defense: 'eclipse', architecture: 'resnet18', seed: 0, options: {} });
  const b = resolveCell({ profile: 'smoke', attack: 'em', defense: 'eclipse', architecture: 'resnet18', seed: 0, options: { tStar: 100 } });
  const d = resolveCell({ profile: 'smoke', attack: 'em', defense: 'eclipse', architecture: 'resnet18', seed: 0, options: { tStar: 50 } });
  assert.equal(a.hash, b.hash, 'tStar 100 is the smoke default');
  assert.notEqual(a.hash, d.hash);
  assert.equal(d.eclipse!.profile.purify.tStar, 50);
  const ab = resolveCell({ profile: 'smoke', attack: 'em', defense: 'eclipse', architecture: 'resnet18', seed: 0, options: { ablation: 'AC' } });
  assert.deepEqual(ab.eclipse!.components, { purify: true, grayscale: false, noise: true });
});

test('--only: each run of words is a part of the label, whole or without its value; "poison seed 1" is not "defence seed 1"', async () => {
  const { selectCells } = await import('../src/matrix/runner.js');
  const cells = expandMatrix(parseMatrixConfig({ ...base, groups: [{ attacks: ['em', 'urp'], defenses: ['eclipse'], seeds: [0, 1], poisonSeeds: [0, 1, 2], defenseSeeds: [0, 1, 2] }, { attacks: ['em'], defenses: ['none'], poisonSeeds: [0, 1] }] }));
  const pick = (only: string): string[] => selectCells(cells, [only]).map((c) => c.label).sort();
  const seedsOf = (only: string): string[] => selectCells(cells, [only]).map((c) => `${c.spec.attack} c${c.spec.seed} p${c.poisonSeed} d${c.defenseSeed ?? 0} ${c.spec.defense}`).sort();
  // a seed phrase is one part: before, these words matched any label holding "poison", "seed" and "1"
  assert.deepEqual(seedsOf('em eclipse poison seed 1 seed 0'), ['em c0 p1 d0 eclipse', 'em c0 p1 d1 eclipse', 'em c0 p1 d2 eclipse']);
  assert.deepEqual(seedsOf('em eclipse defence seed 1 seed 1 poison seed 2'), ['em c1 p2 d1 eclipse']);
  // the seeds a label leaves out (0) can be asked for
  assert.deepEqual(seedsOf('em poison seed 0 defence seed 0 seed 0'), ['em c0 p0 d0 eclipse']);
  assert.deepEqual(seedsOf('em none poison seed 0'), ['em c0 p0 d0 none']);
  // a part without its value matches every value; the order of the parts does not matter
  assert.equal(pick('urp poison seed').length, 18);
  assert.deepEqual(pick('eclipse em seed 1 poison seed 2'), pick('em eclipse poison seed 2 seed 1'));
  assert.equal(pick('em eclipse seed 1 poison seed 2').length, 3);
  // a word that is no part, nor one without its value, matches nothing: not a part's first word alone
  assert.deepEqual(pick('em 1'), []);
  assert.deepEqual(pick('em eclipse defence'), []);
  assert.deepEqual(pick('seed 3'), []);
  assert.deepEqual(pick('clip'), []);
  assert.equal(pick('').length, cells.length);
});

test('time estimates: the median of finished cells of the same recipe, whatever their attack, seeds or key order; else the formula', async () => {
  const { CostModel, costSummary, estimateSeconds } = await import('../src/matrix/runner.js');
  const cells = expandMatrix(parseMatrixConfig({ ...base, groups: [{ attacks: ['em', 'urp', 'lsp'], defenses: ['none'] }, { attacks: ['em', 'urp', 'lsp'], defenses: ['eclipse'], sweep: { tStar: [50, 100] } }] }));
  const pick = (attack: string, defense: string, tStar?: number) => cells.find((c) => c.spec.attack === attack && c.spec.defense === defense && (tStar === undefined || c.eclipse?.profile.purify.tStar === tStar))!;
  // stored by other code: the same recipe with its keys in another order
  const reorder = <T,>(v: T): T => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x))) as T;
  const model = new CostModel([
    { cell: pick('em', 'eclipse', 50), seconds: 100 },
    { cell: reorder(pick('urp', 'eclipse', 50)), seconds: 900 },
    { cell: { ...pick('lsp', 'eclipse', 50), poisonSeed: 2, defenseSeed: 1 }, seconds: 300 },
    { cell: pick('em', 'none'), seconds: 40 },
    { cell: pick('urp', 'none'), seconds: 60 },
    { cell: pick('lsp', 'none'), seconds: 0 }, // no time recorded: not a measurement
  ]);
  assert.deepEqual(model.estimate(pick('clean', 'eclipse', 50)), { seconds: 300, measured: 3 });
  assert.deepEqual(model.estimate(pick('clean', 'none')), { seconds: 50, measured: 2 });
  const t100 = pick('em', 'eclipse', 100);
  assert.deepEqual(model.estimate(t100), { seconds: estimateSeconds(t100), measured: 0 }, 'another t* is another recipe');
  assert.match(costSummary([model.estimate(t100), model.estimate(pick('em', 'none'))], 'smoke', ' (marked *)'), /^about 0\.0 h left \(1 cells at the median time of finished cells of their recipe or stages, 1 \(marked \*\) estimated/);
  assert.equal(new CostModel([]).estimate(t100).measured, 0);
});

test('time estimates of sweep points: ECLIPSE stage by stage, a stage built once is free for the cells sharing it', async () => {
  const { CostModel } = await import('../src/matrix/runner.js');
  const cfg = { ...base, profile: 'mini', cleanTwins: false };
  const main = expandMatrix(parseMatrixConfig({ ...cfg, groups: [{ attacks: ['em', 'urp'], defenses: ['eclipse'] }] }));
  const sweep = (s: Record<string, unknown[]>) => expandMatrix(parseMatrixConfig({ ...cfg, groups: [{ attacks: ['em', 'urp'], defenses: ['eclipse'], sweep: s }] }));
  const stages = { denoiser: 400, purify: 170, purified_makeup: 140, classifier: 200 };
  const model = new CostModel(main.map((cell) => ({ cell, seconds: 999, stages })));
  const [em, urp] = [(c: ResolvedCell[]) => c.find((x) => x.spec.attack === 'em')!, (c: ResolvedCell[]) => c.find((x) => x.spec.attack === 'urp')!];
  // p and the ablation reuse the main cells' purified sets: the classifier alone
  assert.deepEqual(model.estimate(em(sweep({ p: [0.6] }))), { seconds: 200, measured: 2 });
  assert.deepEqual(model.estimate(em(sweep({ ablation: ['B'] }))), { seconds: 200, measured: 2 });
  // merged from the CSV on a fresh machine: the results are there, their purified sets are not
  const gone = new CostModel(main.map((cell) => ({ cell, seconds: 999, stages, purified: join(tmp.dir, 'no-such-purified.safetensors') })));
  assert.deepEqual(gone.estimate(em(sweep({ p: [0.6] }))), { seconds: 200 + 170 + 140 + 400, measured: 2 });
  // a new purification recipe on the same denoiser: purification scaled by its reverse steps, plus the make-up
  const full = model.estimate(em(sweep({ respacedSteps: [20] })));
  assert.equal(full.measured, 0);
  assert.ok(Math.abs(full.seconds - (200 + 170 * 2 + 140)) < 1e-6, String(full.seconds));
  // a new denoiser (4x the iterations): built by the first cell of the plan only
  const it = sweep({ iterations: [4000] });
  const planned = model.plan([em(it), urp(it)]);
  const [first, second] = [planned.get(em(it).hash), planned.get(urp(it).hash)];
  assert.ok(Math.abs(first!.seconds - (200 + 170 + 140 + 400 * 4)) < 1e-6, String(first!.seconds));
  assert.ok(Math.abs(second!.seconds - (200 + 170 + 140)) < 1e-6, String(second!.seconds));
  // alone, each pays for the denoiser
  assert.equal(model.estimate(urp(it)).seconds, first!.seconds);
  // a wider U-Net costs more to purify than the measured one
  assert.ok(model.estimate(em(sweep({ 'defense.channels': [64] }))).seconds > first!.seconds);
});

test('run order: the config\'s, each clean twin just before the first cell that needs it (a long config yields its groups in order)', async () => {
  const { twinsFirst } = await import('../src/matrix/runner.js');
  const cells = expandMatrix(parseMatrixConfig({ ...base, groups: [{ attacks: ['urp', 'lsp'], defenses: ['none'] }, { attacks: ['urp', 'lsp'], defenses: ['cutout'] }] }));
  const order = twinsFirst(cells, (c) => c).map((c) => `${c.spec.attack}/${c.spec.defense}`);
  assert.deepEqual(order, ['clean/none', 'urp/none', 'lsp/none', 'clean/cutout', 'urp/cutout', 'lsp/cutout']);
  // with the twins left out of a selection, the rest keep their order
  assert.deepEqual(twinsFirst(cells.filter((c) => c.spec.attack !== 'clean'), (c) => c).map((c) => c.spec.attack), ['urp', 'lsp', 'urp', 'lsp']);
});

test('results database: runners that create the same new file at once all open it (the tables appear together)', { skip: noSqlite ?? false }, async () => {
  const dbModule = join(import.meta.dirname, '..', 'src', 'matrix', 'db.js');
  const open = (file: string): ChildProcess =>
    spawn(process.execPath, ['--input-type=module', '-e', `const { ResultsDb } = await import(${JSON.stringify(pathToFileURL(dbModule).href)}); ResultsDb.open(${JSON.stringify(file)}).close();`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (let round = 0; round < 3; round++) {
    const file = join(tmp.dir, 'race', `r${round}.sqlite`);
    const runs = await Promise.all(Array.from({ length: 6 }, () => finished(open(file))));
    for (const r of runs) assert.equal(r.code, 0, r.err);
  }
});

test('results database: one claim per cell, leases, history, results written once', { skip: noSqlite ?? false }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const file = join(tmp.dir, 'unit.sqlite');
  const cells = expandMatrix(parseMatrixConfig({ ...base, cleanTwins: false, groups: [{ attacks: ['urp', 'lsp'], defenses: ['none'] }] }));
  const r1 = ResultsDb.open(file);
  const r2 = ResultsDb.open(file);
  r1.addCells(cells);
  r2.addCells(cells);
  const hashes = cells.map((c) => c.hash);
  const a = r1.claim(hashes);
  const b = r2.claim(hashes);
  assert.ok(a && b && a !== b, 'two runners claim two different cells');
  assert.equal(r1.claim(hashes), null, 'nothing left to claim');
  const res = { testAcc: 0.5, seconds: 1, inputs: 'x', versions: { eclipse: 't' }, extra: {} };
  assert.equal(r2.finish(a!, res), false, 'a runner cannot finish a cell it does not hold');
  assert.equal(r1.finish(a!, res), true);
  assert.equal(r1.finish(a!, res), false, 'a result is written once');
  assert.equal(r1.resultCount(a!), 1);
  // inputs changed: the cell runs again and the old row stays as history
  const inputsAre = (v: string) => (_h: string, stored: { inputs: string }) => stored.inputs === v;
  assert.deepEqual(r1.syncInputs(hashes, inputsAre('y')), { changed: 1, restored: 0 });
  // the inputs back as they were before it ran again (a changed file put back): the result stands
  assert.deepEqual(r1.syncInputs(hashes, inputsAre('x')), { changed: 0, restored: 1 });
  assert.equal(r1.claim(hashes), null);
  assert.deepEqual(r1.syncInputs(hashes, inputsAre('y')), { changed: 1, restored: 0 });
  assert.equal(r1.claim(hashes), a);
  assert.equal(r1.finish(a!, { ...res, inputs: 'y', testAcc: 0.6 }), true);
  assert.equal(r1.resultCount(a!), 2);
  assert.deepEqual(r1.results().map((r) => r.test_acc), [0.6]);
  r1.close();
  r2.close();
  // a damaged database is reported and left as it is
  const broken = join(tmp.dir, 'broken.sqlite');
  writeFileSync(broken, 'not a database at all, just text');
  assert.throws(() => ResultsDb.open(broken), /not a SQLite database .*left as it is/);
  assert.equal(readFileSync(broken, 'utf8'), 'not a database at all, just text');
  const truncated = join(tmp.dir, 'truncated.sqlite');
  writeFileSync(truncated, readFileSync(file).subarray(0, 3000));
  assert.throws(() => ResultsDb.open(truncated), /damaged|not a SQLite/);
});

test('inputs: a given poison is keyed by its content; results keyed by file bytes (older rows) still match by content', async () => {
  const { sameInputs } = await import('../src/matrix/cell.js');
  const now = JSON.stringify({ data: 'd1', eclipse: '0.1.0', poison_data: 'b5e6e777fdb5fba3' });
  const legacy = (over: Record<string, string>, train = 'tap:file:b5e6e777fdb5fba3'): { inputs: string; extra: string } => ({
    inputs: JSON.stringify({ data: 'd1', eclipse: '0.1.0', poison: 'c97b3919446c3bc5', ...over }),
    extra: JSON.stringify({ train }),
  });
  assert.equal(sameInputs({ inputs: now, extra: '{}' }, now), true);
  assert.equal(sameInputs(legacy({}), now), true, 'an older row on the same content stands');
  assert.equal(sameInputs(legacy({}, 'tap:file:0000000000000000'), now), false, 'other content');
  assert.equal(sameInputs(legacy({ data: 'd2' }), now), false, 'other data import');
  assert.equal(sameInputs(legacy({ eclipse: '0.2.0' }), now), false, 'other eclipse version');
  assert.equal(sameInputs({ inputs: JSON.stringify({ data: 'd1', eclipse: '0.1.0' }), extra: '{}' }, now), false, 'a generated poison is not a given one');
});

// --------------------------------------------------------------------------- the runner as processes

async function dataFiles(): Promise<{ train: string; test: string; pool: string }> {
  const dir = join(tmp.dir, 'data');
  const f = { train: join(dir, 'train.safetensors'), test: join(dir, 'test.safetensors'), pool: join(dir, 'pool.safetensors') };
  if (!existsSync(f.train)) {
    mkdirSync(dir, { recursive: true });
    const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    await saveDataset(syntheticDataset({ classes, perClass: 6, seed: 1 }), f.train);
    await saveDataset(syntheticDataset({ classes, perClass: 2, seed: 2 }), f.test);
    await saveDataset(syntheticDataset({ classes, perClass: 3, seed: 3 }), f.pool);
  }
  return f;
}

function writeConfig(name: string, epochs: number, data: { train: string; test: string; pool: string }): string {
  const file = join(tmp.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, profile: 'smoke', data, options: { epochs, width: 4 }, groups: [{ attacks: ['urp', 'lsp', 'ar'], defenses: ['none', 'iss-g'] }] }));
  return file;
}

const env = { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' };
const runner = (config: string, db: string, ...more: string[]): ChildProcess =>
  spawn(process.execPath, [bin, 'matrix', 'run', config, '--db', db, '--threads', '1', '--device', 'cpu', '--quiet', ...more], { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
const finished = (p: ChildProcess): Promise<{ code: number | null; out: string; err: string }> =>
  new Promise((res) => {
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (err += d));
    p.on('close', (code) => res({ code, out, err }));
  });

test('two runners on one database run every cell exactly once', { skip: noSqlite ?? false }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const config = writeConfig('two', 1, await dataFiles());
  const db = join(tmp.dir, 'two.sqlite');
  const [a, b] = await Promise.all([finished(runner(config, db)), finished(runner(config, db))]);
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  const ran = [a, b].map((r) => Number(/ran (\d+)/.exec(r.out)?.[1]));
  // 3 attacks x 2 defences + 2 clean twins = 8 cells
  assert.equal(ran[0]! + ran[1]!, 8, `${a.out} / ${b.out}`);
  const h = ResultsDb.open(db);
  const rows = h.results();
  assert.equal(rows.length, 8);
  for (const r of rows) assert.equal(h.resultCount(r.hash), 1, `${r.label} ran once`);
  for (const r of rows.filter((x) => x.attack !== 'clean')) assert.ok(r.clean_acc !== null, `${r.label} carries its clean accuracy`);
  h.close();
  // export and merge round trip into a new database
  const csv = join(tmp.dir, 'two.csv');
  const ex = spawnSync(process.execPath, [bin, 'matrix', 'export', '--db', db, '--out', csv], { env, encoding: 'utf8' });
  assert.equal(ex.status, 0, ex.stderr);
  const merged = join(tmp.dir, 'merged.sqlite');
  const mg = spawnSync(process.execPath, [bin, 'matrix', 'merge', csv, '--db', merged], { env, encoding: 'utf8' });
  assert.equal(mg.status, 0, mg.stderr);
  assert.match(mg.stdout, /merged 8 result/);
  const again = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', merged, '--dry-run'], { env, encoding: 'utf8' });
  assert.equal((again.stdout.match(/ done /g) ?? []).length, 8, again.stdout);
});

test('a runner stopped (Ctrl-C) or killed mid-cell: finished cells are kept, only the interrupted one is recomputed', { skip: noSqlite ?? false }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const config = writeConfig('kill', 20, await dataFiles());
  const db = join(tmp.dir, 'kill.sqlite');
  const hashes = expandMatrix(parseMatrixConfig(JSON.parse(readFileSync(config, 'utf8')))).map((c) => c.hash);
  // run until `done` cells are finished and another is running, then send `signal`
  const stopAt = async (done: number, signal: NodeJS.Signals): Promise<{ during: string | null; code: number | null; err: string }> => {
    const p = runner(config, db);
    const out = finished(p);
    const started = Date.now();
    let during: string | null = null;
    while (Date.now() - started < 240_000 && during === null && p.exitCode === null) {
      await new Promise((r) => setTimeout(r, 150));
      if (!existsSync(db)) continue;
      const h = ResultsDb.open(db);
      const st = h.status(hashes);
      h.close();
      const running = [...st.entries()].find(([, s]) => s.status === 'running');
      if ([...st.values()].filter((s) => s.status === 'done').length >= done && running) {
        during = running[0];
        p.kill(signal);
      }
    }
    const r = await out;
    return { during, code: r.code, err: r.err };
  };
  // Ctrl-C: the runner stops in the cell, hands it back and exits 130 (a stop, not the end)
  const stopped = await stopAt(1, 'SIGINT');
  assert.ok(stopped.during !== null, 'the runner finished a cell and was stopped in the next');
  assert.equal(stopped.code, 130, stopped.err);
  assert.match(stopped.err, /stopped in .*run the same command to resume it/);
  const mid = ResultsDb.open(db);
  assert.equal(mid.status([stopped.during!]).get(stopped.during!)?.status, 'pending', 'the stopped cell was handed back');
  mid.close();
  // kill -9 in a later cell
  const killed = await stopAt(2, 'SIGKILL');
  const killedDuring = killed.during;
  assert.ok(killedDuring !== null, 'the runner finished two cells and was killed in the third');
  const before = ResultsDb.open(db);
  const doneBefore = before.results();
  const finishedAt = new Map(doneBefore.map((r) => [r.hash, r.finished_at]));
  before.close();
  // the dry run tells the killed runner's cell from one that runs: its process is gone
  const dry = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', db, '--dry-run'], { env, encoding: 'utf8' });
  assert.match(dry.stdout, new RegExp(`^${killedDuring} +stopped `, 'm'), dry.stdout);
  assert.doesNotMatch(dry.stdout, / running /, dry.stdout);
  const second = await finished(runner(config, db));
  assert.equal(second.code, 0, second.err);
  const after = ResultsDb.open(db);
  const rows = after.results();
  assert.equal(rows.length, 8);
  for (const r of rows) assert.equal(after.resultCount(r.hash), 1, `${r.label}: one result`);
  for (const [hash, at] of finishedAt) assert.equal(rows.find((r) => r.hash === hash)!.finished_at, at, 'finished cells were not rerun');
  assert.ok(!finishedAt.has(killedDuring!), 'the killed cell had no result');
  after.close();
  assert.equal(Number(/ran (\d+)/.exec(second.out)?.[1]), 8 - doneBefore.length);
  assert.match(second.out, new RegExp(`already finished ${doneBefore.length}`));
});

test('a given poison file that changed: its cells run again, the old results stay as history', { skip: noSqlite ?? false }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const { loadDataset } = await import('../src/data/store.js');
  const data = await dataFiles();
  const poisonFile = join(tmp.dir, 'given-urp.safetensors');
  const clean = await loadDataset(data.train);
  const poisoned = { ...clean, images: clean.images.map((v, i) => (i % 7 === 0 ? 255 - v : v)), meta: { ...clean.meta, attack: 'urp' } };
  await saveDataset(poisoned, poisonFile);
  const config = join(tmp.dir, 'given.json');
  writeFileSync(config, JSON.stringify({ name: 'given', profile: 'smoke', data, poisons: { urp: poisonFile }, options: { epochs: 1, width: 4 }, groups: [{ attacks: ['urp', 'lsp'], defenses: ['none'] }] }));
  const db = join(tmp.dir, 'given.sqlite');
  const first = await finished(runner(config, db));
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /ran 3/);
  // the file gone (a fresh machine, a cleaned folder): its finished cell stands, nothing reruns
  renameSync(poisonFile, `${poisonFile}.away`);
  const gone = await finished(runner(config, db));
  assert.equal(gone.code, 0, gone.err);
  assert.match(gone.out + gone.err, /given poison file .*given-urp\.safetensors is missing: 0 unfinished cell/);
  assert.match(gone.out, /ran 0, already finished 2/, `${gone.out} ${gone.err}`);
  const kept = ResultsDb.open(db);
  assert.equal(kept.results().length, 3, 'no finished result was sent back to pending');
  kept.close();
  renameSync(`${poisonFile}.away`, poisonFile);
  // the same pixels saved again with other provenance (a poison remade on another machine): the
  // file's bytes differ, its content does not, and the finished cells stand
  await saveDataset({ ...poisoned, meta: { ...poisoned.meta, made_at: 'another machine, another day' } }, poisonFile);
  const remade = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', db, '--dry-run'], { env, encoding: 'utf8' });
  assert.equal(remade.status, 0, remade.stderr);
  assert.equal((remade.stdout.match(/ done /g) ?? []).length, 3, `a remade, identical poison keeps its finished cells: ${remade.stdout}`);
  await saveDataset({ ...poisoned, images: clean.images.map((v, i) => (i % 5 === 0 ? 255 - v : v)) }, poisonFile);
  const second = await finished(runner(config, db));
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /ran 1, already finished 2/, `only the cell on the changed file ran again: ${second.out} ${second.err}`);
  const h = ResultsDb.open(db);
  const rows = h.results();
  const urp = rows.find((r) => r.attack === 'urp')!;
  assert.equal(h.resultCount(urp.hash), 2, 'the old result is kept as history');
  assert.equal(rows.length, 3);
  h.close();
  // the same files elsewhere (another checkout, a config beside its poison) are the same cells
  const moved = join(tmp.dir, 'moved');
  mkdirSync(moved, { recursive: true });
  copyFileSync(poisonFile, join(moved, 'poison.safetensors'));
  const movedConfig = join(moved, 'given.json');
  writeFileSync(movedConfig, JSON.stringify({ name: 'given', profile: 'smoke', data, poisons: { urp: 'poison.safetensors' }, options: { epochs: 1, width: 4 }, groups: [{ attacks: ['urp', 'lsp'], defenses: ['none'] }] }));
  const dry = spawnSync(process.execPath, [bin, 'matrix', 'run', movedConfig, '--db', db, '--dry-run'], { env, encoding: 'utf8' });
  assert.equal(dry.status, 0, dry.stderr);
  assert.equal((dry.stdout.match(/ done /g) ?? []).length, 3, `moved files keep their finished cells: ${dry.stdout}`);
  // a pending cell is timed by the finished cells of its recipe in the database (whatever their
  // attack), and by the classifier-training formula, marked *, where none has finished
  const timed = (options: Record<string, number>): string => {
    writeFileSync(join(moved, 'wider.json'), JSON.stringify({ name: 'given', profile: 'smoke', data, poisons: { urp: 'poison.safetensors' }, options, groups: [{ attacks: ['urp', 'lsp', 'ar'], defenses: ['none'] }] }));
    const r = spawnSync(process.execPath, [bin, 'matrix', 'run', join(moved, 'wider.json'), '--db', db, '--dry-run'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const like = timed({ epochs: 1, width: 4 });
  assert.match(like, /pending +~[\dhms]+ +ar \/ none/, like);
  assert.match(like, /about [\d.]+ h left \(each cell at the median time of finished cells of its recipe or stages\)/, like);
  const other = timed({ epochs: 2, width: 4 });
  assert.match(other, /pending +~[\dhms]+\* +ar \/ none/, other);
  assert.match(other, /about [\d.]+ h left \(estimated: classifier training at the smoke profile/, other);
  // a dry run writes nothing: no database where there was none
  const none = join(tmp.dir, 'dry-none.sqlite');
  const dry2 = spawnSync(process.execPath, [bin, 'matrix', 'run', movedConfig, '--db', none, '--dry-run'], { env, encoding: 'utf8' });
  assert.equal(dry2.status, 0, dry2.stderr);
  assert.equal((dry2.stdout.match(/ pending /g) ?? []).length, 3, dry2.stdout);
  assert.ok(!existsSync(none), 'the dry run created no database');
  // a given file that is not a poisoned copy of the training set is refused with the fix
  await saveDataset(syntheticDataset({ classes: ['a', 'b'], perClass: 2 }), poisonFile);
  const bad = await finished(runner(config, db));
  assert.notEqual(bad.code, 0, bad.out + bad.err);
  assert.match(bad.err + bad.out, /is not a poisoned copy of this matrix's training set/);
});

test('a missing given poison: the cells on it are counted as left out and the run fails; with nothing else to run it writes nothing (issue 23, case 9)', { skip: noSqlite ?? false }, async () => {
  const data = await dataFiles();
  const dir = join(tmp.dir, 'left');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'left.json');
  const write = (attacks: string[]): void =>
    writeFileSync(config, JSON.stringify({ name: 'left', profile: 'smoke', data, cleanTwins: false, poisons: { urp: 'missing.safetensors' }, options: { epochs: 1, width: 4 }, groups: [{ attacks, defenses: ['none'] }] }));
  // every cell asked for is on the missing file: refused before anything is made
  write(['urp']);
  const db = join(dir, 'left.sqlite');
  const none = await finished(runner(config, db));
  assert.notEqual(none.code, 0, none.out);
  const lines = none.err.split('\n').filter((l) => l.startsWith('eclipse matrix:'));
  assert.equal(lines.length, 1, none.err);
  assert.match(lines[0]!, /none of its 1 cell\(s\) can run: the given poison file .*missing\.safetensors \(1 cell\(s\)\) is missing: make it with eclipse poison/);
  assert.ok(!existsSync(db), 'no database was made for a run that could run nothing');
  // the dry run says which cells cannot run, and why
  write(['urp', 'lsp']);
  const dry = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', db, '--dry-run'], { env, encoding: 'utf8' });
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /pending .* urp \/ none \/ resnet18 \/ seed 0 .*\[cannot run: given poison .*missing\.safetensors is missing\]/);
  assert.doesNotMatch(dry.stdout, /lsp .*cannot run/);
  assert.match(dry.stdout, /1 of the unfinished cells cannot run until their given poison is there/);
  // the other cells run; the summary counts the one left out, and the run exits non-zero
  const some = await finished(runner(config, db));
  assert.notEqual(some.code, 0, `${some.out} ${some.err}`);
  assert.match(some.out, /ran 1, already finished 0, failed 0, left out 1 \(given poison missing\)/);
  assert.match(some.err, /eclipse matrix: error: 1 cell\(s\) could not run: their given poison file is missing \(named above\)/);
});

test('--make-poisons: a missing given poison is made when its first unfinished cell comes up, as eclipse poison makes it; not remade for finished cells', { skip: noSqlite ?? false }, async () => {
  const { datasetDigest } = await import('../src/data/dataset.js');
  const { loadDataset } = await import('../src/data/store.js');
  const data = await dataFiles();
  const dir = join(tmp.dir, 'make');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'make.json');
  const made = join(dir, 'poisons', 'urp-s0.safetensors');
  const write = (defenses: string[]): void =>
    writeFileSync(config, JSON.stringify({ name: 'make', profile: 'smoke', data, cleanTwins: false, poisons: { urp: 'poisons/urp-s0.safetensors' }, options: { epochs: 1, width: 4 }, groups: [{ attacks: ['lsp', 'urp'], defenses }] }));
  write(['none']);
  const db = join(dir, 'make.sqlite');
  // the dry run says it will be made, and prices the cell in its place
  const dry = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', db, '--dry-run', '--make-poisons'], { env, encoding: 'utf8' });
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /urp \/ none .*\[its given poison .*urp-s0\.safetensors is made first/);
  assert.doesNotMatch(dry.stdout, /cannot run/);
  // the run makes it (into a folder that did not exist) and runs both cells
  const r = await finished(runner(config, db, '--make-poisons'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /ran 2, already finished 0, failed 0; results/);
  assert.ok(existsSync(made), 'the given poison was made');
  const got = await loadDataset(made);
  assert.equal(got.meta.attack, 'urp');
  assert.equal(Number(got.meta.seed), 0);
  // the same content as eclipse poison makes from the matrix's training set
  const cli = join(dir, 'cli-urp.safetensors');
  const p = spawnSync(process.execPath, [bin, 'poison', '--attack', 'urp', '--profile', 'smoke', '--seed', '0', '--in', data.train, '--out', cli, '--threads', '1', '--quiet'], { env, encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.equal(datasetDigest(got), datasetDigest(await loadDataset(cli)));
  // gone again: its cell has finished, so a run makes nothing and runs nothing
  renameSync(made, `${made}.away`);
  const again = await finished(runner(config, db, '--make-poisons'));
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /ran 0, already finished 2/);
  assert.ok(!existsSync(made), 'not remade for a finished cell');
  // a new cell on it: made again with the same content, so the finished URP cell stands
  write(['none', 'cutout']);
  const more = await finished(runner(config, db, '--make-poisons'));
  assert.equal(more.code, 0, more.err);
  assert.match(more.out, /ran 2, already finished 2/, 'the two cutout cells; both none cells stand');
  assert.equal(datasetDigest(await loadDataset(made)), datasetDigest(got));
  // --queue makes no poisons: refused in one line
  const q = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', db, '--make-poisons', '--queue', 'redis://127.0.0.1:1', '--store', dir], { env, encoding: 'utf8' });
  assert.notEqual(q.status, 0);
  assert.match(q.stderr, /--make-poisons is for a run without --queue/);
});

test('the dry run prices a cell on a missing poison after the cells that can run: it builds no shared denoiser for them', { skip: noSqlite ?? false }, async () => {
  const data = await dataFiles();
  const dir = join(tmp.dir, 'left-cost');
  mkdirSync(dir, { recursive: true });
  // mini: the denoiser has a measured rate there, so a shared denoiser shows in the estimate
  const dry = (name: string, attacks: string[]): string => {
    const config = join(dir, `${name}.json`);
    writeFileSync(config, JSON.stringify({ name, profile: 'mini', data, cleanTwins: false, poisons: { urp: 'missing.safetensors' }, groups: [{ attacks, defenses: ['eclipse'] }] }));
    const r = spawnSync(process.execPath, [bin, 'matrix', 'run', config, '--db', join(dir, `${name}.sqlite`), '--dry-run'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => / lsp \/ eclipse /.test(l));
    assert.ok(line, r.stdout);
    return line.split(/\s+/)[2]!;
  };
  // the URP cell comes first in the config but cannot run: the LSP cell pays for the denoiser as if alone
  const alone = dry('alone', ['lsp']);
  assert.match(alone, /^~\d/);
  assert.equal(dry('behind', ['urp', 'lsp']), alone);
});

test('a failing cell is tried once per run and counted once (issue 23, case 11)', { skip: noSqlite ?? false }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const data = await dataFiles();
  const dir = join(tmp.dir, 'failing');
  mkdirSync(dir, { recursive: true });
  // a given "poison" of another dataset fails the cell at once, before any training
  await saveDataset(syntheticDataset({ classes: ['a', 'b'], perClass: 2 }), join(dir, 'other.safetensors'));
  const config = join(dir, 'failing.json');
  writeFileSync(config, JSON.stringify({ name: 'failing', profile: 'smoke', data, cleanTwins: false, poisons: { urp: 'other.safetensors' }, options: { epochs: 1, width: 4 }, groups: [{ attacks: ['urp'], defenses: ['none'] }] }));
  const db = join(dir, 'failing.sqlite');
  const hash = expandMatrix(parseMatrixConfig(JSON.parse(readFileSync(config, 'utf8'))))[0]!.hash;
  // every run tries it once: a cell that keeps failing is never silently skipped
  for (const attempt of [1, 2, 3]) {
    const r = await finished(runner(config, db));
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /ran 0, already finished 0, failed 1;/, `run ${attempt}: ${r.out}`);
    assert.equal((r.err.match(/FAILED: .*is not a poisoned copy/g) ?? []).length, 1, `run ${attempt} tried the cell once: ${r.err}`);
    assert.match(r.err, /eclipse matrix: error: 1 cell\(s\) failed/);
    const h = ResultsDb.open(db);
    assert.deepEqual({ ...h.status([hash]).get(hash), error: null, seconds: null }, { status: 'failed', attempts: attempt, error: null, seconds: null, abandoned: false });
    h.close();
  }
});
