// `npm run bench -- attacks`: one PGD step of the attack machinery (src/training/pgd.ts)
// on a frozen, eval-mode ResNet-18 surrogate - forward, input gradient, signed step,
// projection - eclipse vs PyTorch (bench/torch_attacks.py) on the same libtorch and thread
// count. Rounds alternate between the engines so that machine drift hits both; each PyTorch
// round is a fresh process (its start-up is not timed). Reports medians and ours/PyTorch.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { F, Generator, setNumThreads, tidy } from '../src/engine/index.js';
import { resnet18 } from '../src/nn/models/resnet.js';
import { pgdStep, untargetedCrossEntropy } from '../src/attacks/model/index.js';
import { flagNumber, machineInfo, median, pythonPath, repoRoot, round, table, writeJsonAtomic, type ParsedArgs } from './common.js';

interface AttackBenchResult {
  config: string;
  ours_img_s: number;
  pytorch_img_s: number;
  ratio: number;
  rounds: number;
  steps_per_round: number;
  threads: number;
}

function pytorchRound(width: number, batch: number, steps: number, threads: number): number {
  const script = join(repoRoot(), 'bench', 'torch_attacks.py');
  const r = spawnSync(pythonPath(), [script, '--threads', String(threads), '--width', String(width), '--batch', String(batch), '--steps', String(steps)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench/torch_attacks.py failed (${r.status}): ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return (JSON.parse(lines[lines.length - 1]!) as { img_s: number }).img_s;
}

export async function runAttacksBench(args: ParsedArgs): Promise<void> {
  const quick = args.flags.has('quick');
  const threads = flagNumber(args, 'threads', 2);
  const width = flagNumber(args, 'width', 16);
  const batch = flagNumber(args, 'batch', 128);
  const rounds = flagNumber(args, 'rounds', quick ? 2 : 5);
  const steps = flagNumber(args, 'steps', quick ? 2 : 4);
  setNumThreads(threads);

  const model = resnet18({ width, numClasses: 10, generator: new Generator(0) }).eval();
  for (const p of model.parameters()) p.requiresGrad_(false);
  const x = F.rand([batch, 3, 32, 32], { generator: new Generator(1) }).keep();
  const y = F.randint(0, 10, [batch], { generator: new Generator(2) }).keep();
  const o = { norm: 'linf' as const, eps: 8 / 255, stepSize: 2 / 255, steps: 1, direction: 'ascent' as const };
  let delta = F.zerosLike(x).keep();
  const step = (): void => {
    const next = pgdStep(x, delta, (xa) => tidy(() => untargetedCrossEntropy(model.forward(xa), y)), o);
    delta.dispose();
    delta = next;
  };
  step(); // warm-up

  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) step();
    ours.push((batch * steps) / ((performance.now() - t0) / 1000));
    theirs.push(pytorchRound(width, batch, steps, threads));
    console.log(`round ${r + 1}/${rounds}: ours ${round(ours[r]!)} img/s, pytorch ${round(theirs[r]!)} img/s`);
  }
  delta.dispose();
  x.dispose();
  y.dispose();
  model.dispose();

  const result: AttackBenchResult = {
    config: `resnet18_w${width}_b${batch}_pgd_step`,
    ours_img_s: round(median(ours)),
    pytorch_img_s: round(median(theirs)),
    ratio: round(median(ours) / median(theirs), 3),
    rounds,
    steps_per_round: steps,
    threads,
  };
  console.log(table(['config', 'ours img/s', 'pytorch img/s', 'ours/pytorch'], [[result.config, result.ours_img_s, result.pytorch_img_s, result.ratio]]));
  const out = join(repoRoot(), 'bench', 'results', 'attacks.json');
  writeJsonAtomic(out, { machine: machineInfo(), results: [result] });
  console.log(`wrote ${out}`);
}
