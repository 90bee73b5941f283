// The command line as a user meets it: help everywhere, and bad input that gets one clear
// error naming the file and the fix, a non-zero exit, and no partial output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

import { main } from '../src/cli/main.js';
import { recipeFrom } from '../src/cli/train.js';
import { demoSeeds } from '../src/cli/demo.js';
import { FLAG_RANGES, readNumbers, settingRange } from '../src/settings.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { ECLIPSE_SETTINGS, eclipseProfile } from '../src/eclipse-settings.js';
import { saveDataset } from '../src/data/store.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'bin', 'eclipse.js');

function eclipse(args: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args, '--threads', '1'], { cwd, encoding: 'utf8', env: { ...process.env, ECLIPSE_CIFAR10: '' } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
function eclipseNoThreads(args: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function png(path: string, w: number, h: number, seed: number): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + seed * 11) % 256;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
}

test('the mini demo trains its classifiers at batch 64; eclipse train keeps 128; flags win', () => {
  const demo = eclipseProfile('mini').demoClassifier;
  assert.equal(recipeFrom({}, 'mini', demo).batchSize, 64);
  assert.equal(recipeFrom({}, 'mini', demo).epochs, 30);
  assert.equal(recipeFrom({ 'batch-size': '32' }, 'mini', demo).batchSize, 32);
  assert.equal(recipeFrom({}, 'mini').batchSize, 128);
});

test('--help works from the command line; a bad profile and an unknown command exit 2', () => {
  const tmp = makeTempDir();
  try {
    // every command's help: '--help works for every command and subcommand' (in this process)
    assert.match(eclipseNoThreads(['--help'], tmp.dir).out, /Commands:/);
    const train = eclipseNoThreads(['train', '--help'], tmp.dir);
    assert.equal(train.code, 0);
    assert.match(train.out, /--profile/, 'train --help lists the common options');
    const bad = eclipse(['train', '--profile', 'huge'], tmp.dir);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--profile must be one of smoke, mini, paper/);
    assert.equal(eclipseNoThreads(['frobnicate'], tmp.dir).code, 2);
  } finally {
    tmp.cleanup();
  }
});

test('a truncated CIFAR binary file is named, with the fix, and nothing is written', () => {
  const tmp = makeTempDir();
  try {
    const src = join(tmp.dir, 'cifar-10-batches-bin');
    mkdirSync(src);
    const full = Buffer.alloc(3073 * 10_000);
    for (const f of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) writeFileSync(join(src, f), full);
    // data_batch_3 lost its last 1,000 bytes (an interrupted download).
    writeFileSync(join(src, 'data_batch_3.bin'), full.subarray(0, full.length - 1000));
    const out = join(tmp.dir, 'out');
    const r = eclipse(['data', 'import', '--source', tmp.dir, '--out', out], tmp.dir);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /data_batch_3\.bin/);
    assert.match(r.err, /re-download|re-extract/);
    assert.ok(!existsSync(join(out, 'train.safetensors')));
  } finally {
    tmp.cleanup();
  }
});

test('image folders: corrupt file, wrong size and class mismatch each get a clear error', async () => {
  const tmp = makeTempDir();
  try {
    const good = join(tmp.dir, 'good');
    for (const split of ['train', 'test']) for (const c of ['cat', 'dog']) for (let i = 0; i < 2; i++) await png(join(good, split, c, `${i}.png`), 32, 32, i);
    const ok = eclipse(['data', 'import', '--folder', good, '--out', join(tmp.dir, 'o1'), '--train-per-class', '2', '--test-per-class', '1', '--sparse-per-class', '1'], tmp.dir);
    assert.equal(ok.code, 0, ok.err);

    const corrupt = join(tmp.dir, 'corrupt');
    for (const split of ['train', 'test']) for (const c of ['cat', 'dog']) await png(join(corrupt, split, c, '0.png'), 32, 32, 1);
    writeFileSync(join(corrupt, 'train', 'dog', 'broken.png'), Buffer.from('not a png at all'));
    let r = eclipse(['data', 'import', '--folder', corrupt, '--out', join(tmp.dir, 'o2')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /broken\.png/);
    assert.ok(!existsSync(join(tmp.dir, 'o2', 'train.safetensors')));

    const big = join(tmp.dir, 'big');
    for (const split of ['train', 'test']) for (const c of ['cat', 'dog']) await png(join(big, split, c, '0.png'), 32, 32, 1);
    await png(join(big, 'test', 'cat', 'large.png'), 33, 32, 2);
    r = eclipse(['data', 'import', '--folder', big, '--out', join(tmp.dir, 'o3')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /large\.png/);
    assert.match(r.err, /33x32|32x33/);

    const mismatch = join(tmp.dir, 'mismatch');
    await png(join(mismatch, 'train', 'cat', '0.png'), 32, 32, 1);
    await png(join(mismatch, 'train', 'dog', '0.png'), 32, 32, 1);
    await png(join(mismatch, 'test', 'cat', '0.png'), 32, 32, 1);
    await png(join(mismatch, 'test', 'bird', '0.png'), 32, 32, 1);
    r = eclipse(['data', 'import', '--folder', mismatch, '--out', join(tmp.dir, 'o4')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /class folders differ/);
    assert.match(r.err, /dog/);
    assert.match(r.err, /bird/);
  } finally {
    tmp.cleanup();
  }
});

test('a label out of range, a missing file and an unwritable output are refused', async () => {
  const tmp = makeTempDir();
  try {
    const ds = syntheticDataset({ classes: ['a', 'b'], perClass: 2 });
    const bytes = encodeSafetensors(
      {
        images: { dtype: 'U8', shape: [4, 3, 32, 32], data: ds.images },
        labels: { dtype: 'I64', shape: [4], data: BigInt64Array.from([0n, 1n, 7n, 0n]) },
      },
      { format: 'eclipse-dataset-v1', classes: JSON.stringify(['a', 'b']) },
    );
    const bad = join(tmp.dir, 'bad-labels.safetensors');
    writeFileSync(bad, bytes);
    let r = eclipse(['data', 'info', bad], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad-labels\.safetensors/);
    assert.match(r.err, /label/i);

    r = eclipse(['train', '--train', join(tmp.dir, 'nope.safetensors'), '--test', join(tmp.dir, 'nope.safetensors')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /nope\.safetensors/);

    const good = join(tmp.dir, 'good.safetensors');
    await saveDataset(ds, good);
    writeFileSync(join(tmp.dir, 'a-file'), 'x');
    r = eclipse(['train', '--profile', 'smoke', '--train', good, '--test', good, '--out', join(tmp.dir, 'a-file', 'run')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /a-file/);

    r = eclipse(['poison', '--attack', 'ar', '--in', good, '--out', join(tmp.dir, 'missing-dir', 'p.safetensors')], tmp.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /missing-dir/);
    assert.ok(!readdirSync(tmp.dir).some((f) => f.endsWith('.tmp')), 'no temp file left behind');

    r = eclipse(['purify', '--in', good, '--out', join(tmp.dir, 'p.safetensors'), '--checkpoint', join(tmp.dir, 'x'), '--t-star', '5000'], tmp.dir);
    assert.equal(r.code, 2);
    assert.match(r.err, /--t-star must be in \[1, 4000\]/);
  } finally {
    tmp.cleanup();
  }
});

/** main() in this process, in `cwd`, with its console output caught (for errors raised before any work). */
async function inProcess(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error, cwd: process.cwd(), cifar: process.env.ECLIPSE_CIFAR10 };
  console.log = (...a: unknown[]): void => void out.push(a.join(' '));
  console.error = (...a: unknown[]): void => void err.push(a.join(' '));
  process.chdir(cwd);
  process.env.ECLIPSE_CIFAR10 = '';
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    process.chdir(saved.cwd);
    if (saved.cifar === undefined) delete process.env.ECLIPSE_CIFAR10;
    else process.env.ECLIPSE_CIFAR10 = saved.cifar;
  }
}

/** Every command, with the subcommand its options belong to. */
const EVERY_COMMAND = [['data', 'import'], ['train'], ['eval'], ['poison'], ['denoiser', 'train'], ['purify'], ['defend'], ['demo'], ['analyze', 'assimilation'], ['matrix', 'run'], ['scan'], ['report'], ['worker'], ['queue', 'status']];

test('ranges read numbers, fractions and lists, and say what is wrong in words', () => {
  assert.deepEqual(readNumbers(FLAG_RANGES.epsilon!, '8/255'), { values: [8 / 255] });
  assert.deepEqual(readNumbers(FLAG_RANGES.epochs!, '-1'), { error: 'must be at least 1 (got -1)' });
  assert.deepEqual(readNumbers(FLAG_RANGES.eps!, '-0.1'), { error: 'must be positive (got -0.1)' });
  // ECLIPSE's flags take their ranges from its settings table
  assert.deepEqual(readNumbers(settingRange(ECLIPSE_SETTINGS.p)!, '1.5'), { error: 'must be between 0 and 1 (got 1.5)' });
  assert.deepEqual(readNumbers(settingRange(ECLIPSE_SETTINGS.dropout)!, '1'), { error: 'must be at least 0 and below 1 (got 1)' });
  assert.deepEqual(readNumbers(FLAG_RANGES.seed!, '1.5'), { error: 'must be a whole number (got 1.5)' });
  assert.deepEqual(readNumbers(FLAG_RANGES.lr!, 'fast'), { error: 'must be a number, positive (got "fast")' });
  assert.deepEqual(readNumbers(FLAG_RANGES.milestones!, '40, 60'), { values: [40, 60] });
  assert.match((readNumbers(FLAG_RANGES.milestones!, '40,0') as { error: string }).error, /comma-separated whole numbers, each at least 1/);
  assert.match((readNumbers(FLAG_RANGES.seeds!, '') as { error: string }).error, /comma-separated/, 'a list flag needs a value');
  assert.deepEqual(readNumbers(settingRange(ECLIPSE_SETTINGS.attentionResolutions)!, ''), { values: [] }, 'no attention is a choice');
});

test('--epochs -1 and --eps -0.1 are range-checked values, not "ambiguous" options; --lr=-0.1 does not train', async () => {
  const tmp = makeTempDir();
  try {
    let r = eclipse(['train', '--epochs', '-1'], tmp.dir);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^eclipse train: --epochs must be at least 1 \(got -1\)$/m);
    assert.doesNotMatch(r.err, /ambiguous/);
    r = eclipse(['data', 'import', '--perturbations', 'p.npy', '--eps', '-0.1'], tmp.dir);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^eclipse data: --eps must be positive \(got -0\.1\)$/m);
    const good = join(tmp.dir, 'good.safetensors');
    await saveDataset(syntheticDataset({ classes: ['a', 'b'], perClass: 2 }), good);
    for (const lr of [['--lr=-0.1'], ['--lr', '-0.1']]) {
      r = eclipse(['train', '--profile', 'smoke', '--train', good, '--test', good, '--out', join(tmp.dir, 'run'), ...lr], tmp.dir);
      assert.equal(r.code, 2, `${lr.join(' ')}: ${r.err}`);
      assert.match(r.err, /eclipse train: --lr must be positive \(got -0\.1\)/);
      assert.equal(r.err.split('\n').filter((l) => l.startsWith('eclipse train:')).length, 1, 'one line');
      assert.ok(!existsSync(join(tmp.dir, 'run')), 'nothing trained, nothing written');
    }
  } finally {
    tmp.cleanup();
  }
});

test('every numeric flag of every command refuses a negative number and a non-number, naming the flag', async () => {
  const tmp = makeTempDir();
  try {
    let checked = 0;
    for (const cmd of EVERY_COMMAND) {
      const help = await inProcess([...cmd, '--help'], tmp.dir);
      assert.equal(help.code, 0, `${cmd.join(' ')} --help`);
      // the flags the help shows with a number: "--lr X", "--epochs N", "--seeds 0,1", "--steps LIST"
      const flags = new Set([...help.out.matchAll(/--([a-z][a-z0-9-]*)[ =](N|X|K|T|M|B|E|EPS|LIST|E1,E2|[0-9][0-9,]*)\b/g)].map((m) => m[1]!));
      for (const flag of flags) {
        for (const bad of ['-1', 'abc']) {
          const r = await inProcess([...cmd, `--${flag}`, bad], tmp.dir);
          assert.equal(r.code, 2, `${cmd.join(' ')} --${flag} ${bad}: exit 2 (${r.err})`);
          assert.match(r.err, new RegExp(`^eclipse ${cmd[0]}: --${flag}\\b`), `${cmd.join(' ')} --${flag} ${bad}: names the flag`);
          checked++;
        }
      }
    }
    assert.ok(checked > 200, `${checked} flag values checked`);
    assert.deepEqual(readdirSync(tmp.dir), [], 'nothing written');
  } finally {
    tmp.cleanup();
  }
});

test('every command refuses a bad --profile before any work, with the nearest name', async () => {
  const tmp = makeTempDir();
  try {
    for (const cmd of EVERY_COMMAND) {
      const args = [...cmd, '--profile', 'smok', ...(cmd[0] === 'scan' ? ['data.safetensors'] : [])];
      const r = await inProcess(args, tmp.dir);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.err, `eclipse ${cmd[0]}: --profile must be one of smoke, mini, paper (got "smok") (did you mean smoke?)`);
    }
    assert.deepEqual(readdirSync(tmp.dir), []);
  } finally {
    tmp.cleanup();
  }
});

test('unknown options, commands and subcommands name the nearest one', async () => {
  const tmp = makeTempDir();
  try {
    const cases: Array<[string[], string]> = [
      [['train', '--lrr', '0.1'], 'eclipse train: unknown option --lrr (did you mean --lr?)'],
      [['train', '--epoch=3'], 'eclipse train: unknown option --epoch (did you mean --epochs?)'],
      [['poison', '--atack', 'em'], 'eclipse poison: unknown option --atack (did you mean --attack?)'],
      [['purify', '--tstar', '50'], 'eclipse purify: unknown option --tstar (did you mean --t-star?)'],
      [['scan', 'x', '--pol', 'y'], 'eclipse scan: unknown option --pol (did you mean --pool?)'],
      [['train', '--frobnicate'], 'eclipse train: unknown option --frobnicate (--help lists the options)'],
      [['train', '-x'], 'eclipse train: unknown option -x (--help lists the options)'],
      [['trian'], 'eclipse: unknown command "trian" (did you mean train?): the commands are data, train, eval, poison, denoiser, purify, defend, demo, analyze, matrix, scan, report, worker, queue (eclipse --help says what each does)'],
      [['denoiser', 'trian'], 'eclipse denoiser: unknown denoiser command "trian" (did you mean train?): the denoiser commands are train'],
      [['analyze', 'assimilaton'], 'eclipse analyze: unknown analyze command "assimilaton" (did you mean assimilation?): the analyze commands are assimilation'],
      [['data', 'improt'], 'eclipse data: unknown data command "improt" (did you mean import?): the data commands are import, info, export'],
      [['train', '--model', 'resnet19'], 'eclipse train: --model must be one of resnet18, resnet34, resnet50, vgg16, vgg19, densenet121 (got "resnet19") (did you mean resnet18?)'],
    ];
    for (const [args, line] of cases) {
      const r = await inProcess(args, tmp.dir);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.err, line);
    }
  } finally {
    tmp.cleanup();
  }
});

test('flag values are checked as given: a missing value, a value for a switch, a stray argument', async () => {
  const tmp = makeTempDir();
  try {
    const cases: Array<[string[], RegExp]> = [
      [['train', '--out'], /^eclipse train: --out needs a value$/],
      [['train', '--out', '--lr', '1'], /^eclipse train: --out needs a value, not the option --lr \(write --out=--lr if that is the value\)$/],
      [['train', '--quiet=yes'], /^eclipse train: --quiet takes no value/],
      [['train', 'data.safetensors'], /^eclipse train: unexpected argument "data\.safetensors": this command takes options only/],
      [['train', '--p', '0.5'], /^eclipse train: --p sets the compensation module: add --compensation$/],
      [['train', '--device', 'gpu'], /^eclipse train: --device must be auto, cpu, cuda or cuda:N \(got "gpu"\)$/],
      [['poison', '--attack', 'ar', '--quantization', 'flor'], /^eclipse poison: --quantization must be one of round, floor \(got "flor"\) \(did you mean floor\?\)$/],
      [['poison', '--attack', 'em', '--steps', '-3'], /^eclipse poison: --steps must be >= 1, got -3$/],
      [['demo', '--seeds', '0,-1'], /^eclipse demo: --seeds must be comma-separated whole numbers, each at least 0 \(got "0,-1"\)$/],
      [['demo', '--seeds', '0'], /^eclipse demo: --seeds is how many seeds to train \(at least 1; got 0\); name them as a list, e\.g\. --seeds 0,3$/],
      [['demo', '--seeds', '0,1', '--seed', '2'], /^eclipse demo: give the classifier seeds either as --seeds A,B or as --seed N with --seeds COUNT, not both$/],
      [['denoiser', 'train', '--channel-mult', '1,2,x'], /^eclipse denoiser: --channel-mult must be comma-separated whole numbers, each at least 1/],
    ];
    for (const [args, line] of cases) {
      const r = await inProcess(args, tmp.dir);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, line);
    }
    // --help wins over anything else given
    const h = await inProcess(['train', '--help', '--lr', '-1'], tmp.dir);
    assert.equal(h.code, 0);
    assert.match(h.out, /--lr X/);
  } finally {
    tmp.cleanup();
  }
});

test('--help works for every command and subcommand', async () => {
  const tmp = makeTempDir();
  try {
    const forms = [[], ['data'], ['data', 'import'], ['train'], ['eval'], ['poison'], ['denoiser'], ['denoiser', 'train'], ['purify'], ['defend'], ['demo'], ['analyze'], ['analyze', 'assimilation'],
      ['matrix'], ['matrix', 'run'], ['scan'], ['report'], ['worker'], ['queue'], ['queue', 'status']];
    for (const form of forms) {
      const r = await inProcess([...form, '--help'], tmp.dir);
      assert.equal(r.code, 0, `${form.join(' ')} --help: ${r.err}`);
      assert.equal(r.err, '', `${form.join(' ')} --help: nothing on stderr`);
      assert.match(r.out, form.length ? new RegExp(`eclipse ${form[0]}`) : /Commands:/, `${form.join(' ')} --help prints its help`);
      if (!['report', 'queue'].includes(form[0] ?? 'report')) assert.match(r.out, /--profile/, `${form.join(' ')} --help lists the common options`);
    }
  } finally {
    tmp.cleanup();
  }
});

test('defend checks every flag before its --scan writes anything; demo leaves no run folder for a bad source', async () => {
  const tmp = makeTempDir();
  try {
    const good = join(tmp.dir, 'good.safetensors');
    await saveDataset(syntheticDataset({ classes: ['a', 'b'], perClass: 4 }), good);
    let r = await inProcess(['defend', '--train', good, '--scan', '--out', 'out', '--t-star', '5000'], tmp.dir);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--t-star must be in \[1, 4000\]/);
    r = await inProcess(['defend', '--train', good, '--scan', '--out', 'out', '--defense', 'iss-j', '--no-purify'], tmp.dir);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--no-purify is an ECLIPSE ablation/);
    assert.ok(!existsSync(join(tmp.dir, 'out')), 'no scan written');
    r = await inProcess(['demo', '--source', 'nope', '--out', 'demo'], tmp.dir);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /CIFAR-10 data not found at nope/);
    assert.ok(!existsSync(join(tmp.dir, 'demo')), 'no run folder');
  } finally {
    tmp.cleanup();
  }
});

test('Ctrl-C stops a job at its next checkpoint, exits 130 and says how this command continues it; doing so continues it', async (t) => {
  const { spawn } = await import('node:child_process');
  const tmp = makeTempDir();
  t.after(() => tmp.cleanup());
  const dir = tmp.dir;
  const data = join(dir, 'data.safetensors');
  await saveDataset(syntheticDataset({ classes: ['a', 'b'], perClass: 8 }), data);
  const args = [bin, 'train', '--profile', 'smoke', '--train', data, '--test', data, '--out', join(dir, 'run'), '--epochs', '400', '--threads', '1'];
  // Ctrl-C once the line `when` is out: the job stops after the epoch it is in
  const interrupt = (more: string[], when: RegExp): Promise<{ code: number | null; err: string }> =>
    new Promise((done) => {
      const p = spawn(process.execPath, [...args, ...more], { env: { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' } });
      let err = '';
      let sent = false;
      p.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (!sent && when.test(err)) {
          sent = true;
          p.kill('SIGINT');
        }
      });
      p.on('close', (code) => done({ code, err }));
    });
  const first = await interrupt([], /^training /m);
  assert.equal(first.code, 130, first.err);
  assert.match(first.err, /stopping at the next checkpoint \(then run the same command with --resume to continue\)/);
  const at = /^eclipse train: stopped: training interrupted after epoch (\d+)\/400 \(checkpoint .*checkpoint\.safetensors\); run the same command with --resume to continue$/m.exec(first.err);
  assert.ok(at, first.err);
  assert.doesNotMatch(first.err, /error:/, 'a requested stop is no error');
  // without --resume the unfinished run is refused, naming the flag; with it, it continues where it stopped
  const plain = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(plain.status, 2, plain.stderr);
  assert.match(plain.stderr, /--resume continues it/);
  const second = await interrupt(['--resume'], /^resuming at epoch/m);
  assert.equal(second.code, 130, second.err);
  assert.match(second.err, new RegExp(`^resuming at epoch ${Number(at[1]) + 1}/400 from `, 'm'));
});

test('eclipse demo --seeds: a count from --seed (default one seed, seed 0), or a list of seeds', () => {
  assert.deepEqual(demoSeeds({}), [0]);
  assert.deepEqual(demoSeeds({ seeds: '2' }), [0, 1]);
  assert.deepEqual(demoSeeds({ seeds: '3', seed: '4' }), [4, 5, 6]);
  assert.deepEqual(demoSeeds({ seed: '7' }), [7]);
  assert.deepEqual(demoSeeds({ seeds: '0,3' }), [0, 3]);
  assert.throws(() => demoSeeds({ seeds: '0' }), /how many seeds/);
});
