// Benchmarks: `npm run bench -- <name> [flags]` (after `npm run build`).
//   engine     ResNet-18 train-step / forward throughput, eclipse vs PyTorch (bench/engine.ts)
//   diffusion  U-Net train-step / sampling-step throughput, eclipse vs PyTorch (bench/diffusion.ts)
//   attacks    one PGD step on a ResNet-18 surrogate, eclipse vs PyTorch (bench/attacks.ts)
//   queue      the time the distributed queue adds per job (bench/queue.ts)
import { join } from 'node:path';

import { flagNumber, parseArgs } from './common.js';
import { engineOptions, runEngineBench, serveEngineWorker } from './engine.js';
import { runDiffusionBench } from './diffusion.js';
import { runAttacksBench } from './attacks.js';
import { runQueueBench } from './queue.js';

const USAGE = `usage: npm run bench -- engine|diffusion|attacks|queue [--quick] [flags]

queue: what the distributed queue adds per job: Redis on a loopback port, one eclipse worker,
  no-op jobs from add to result (one at a time, and all at once). Writes bench/results/queue.json.
  --jobs N (default 50, quick 20)

attacks: one L_inf PGD step (forward, input gradient, projection) of a frozen eval-mode
  ResNet-18, ours vs PyTorch, alternating rounds. Writes bench/results/attacks.json.
  --width N (default 16)  --batch N (default 128)  --threads N (default 2)
  --rounds N (default 5, quick 2)  --steps N timed steps per round (default 4, quick 2)

diffusion: improved-DDPM U-Net (mini 32ch x1 and 32ch x2 with attention 16/8) train step and
  sampling step, ours vs PyTorch, interleaved rounds. Writes bench/results/diffusion.json.
  --rounds N (default 5, quick 3)  --threads N (default 2)
  --device cpu|cuda     where both engines run (default cpu; cuda: every step synchronised,
                        results in bench/results/diffusion-cuda.json)
  --configs NAMES       a subset: unet_mini_b32_train unet_mini_b100_sample unet_32x2_b32_train
                        unet_32x2_b64_sample (default all)
  --steps N             timed steps per round (default 1-2 on cpu, 10 on cuda)
  --warmup N            warm-up steps (default 1 on cpu, 3 on cuda)
  --out FILE            results file


engine: ResNet-18 (CIFAR, width multiplier) train-step and eval-forward throughput in img/s:
  eclipse channels_last (ours), eclipse NCHW, PyTorch default layout, PyTorch channels_last,
  interleaved round-robin; medians over rounds. Writes bench/results/engine.json.
  --quick               fewer, shorter rounds (about 1.5 minutes instead of about 5)
  --configs TOKENS      w64, w16, w64:train, w16_b64:forward, resnet18_w64_b128_train, train,
                        forward (space or comma separated; default: w64 and w16, both modes)
  --batch N             batch size for configs that do not name one (default 128)
  --threads N           intra-op threads for both engines (default 2)
  --device cpu|cuda     where every contender runs (default cpu). cuda: each step ends with a
                        device synchronisation on both sides, CPU-contention checks are off,
                        results go to bench/results/engine-cuda.json
  --rounds N            timed rounds per contender (default 9, quick 3)
  --warmup N            warm-up steps per contender (default 3, quick 2)
  --round-seconds S     target length of one contender's round (default 1.5, quick 0.6)
  --contended-below U   a round where any contender's CPU use (CPU time / wall / threads) is
                        below U lost cores to other processes (default 0.9) ...
  --retries N           ... and is run again, at most N times per config (default 9, quick 3),
  --max-wait S          ... once the CPUs are idle again, waiting at most S seconds in all
                        (default 1800, quick 300)
  --yield               end each of our steps with one event-loop turn (timed), as an async
                        loop has (default: steps back to back, as a synchronous loop)
  --ours-env K=V ...    extra environment for our worker processes only, for what-if runs
                        (e.g. GLIBC_TUNABLES=glibc.malloc.mmap_max=0, ECLIPSE_NATIVE=other.node)
  --out FILE            results file (default bench/results/engine.json; other configs in it are kept)

env: ECLIPSE_PYTHON   the python3 with torch (default /usr/bin/python3)`;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), new Set(['quick', 'help', 'yield']));
  const [name] = args.positional;
  if (args.flags.has('help') || name === undefined || name === 'help') {
    console.log(USAGE);
    return name === undefined && !args.flags.has('help') ? 2 : 0;
  }
  if (name === 'engine') {
    await runEngineBench(engineOptions(args));
    return 0;
  }
  if (name === 'engine-worker') {
    // internal: one eclipse contender of the engine benchmark (JSON lines on stdin/stdout)
    await serveEngineWorker(flagNumber(args, 'threads', 2));
    return 0;
  }
  if (name === 'attacks') {
    await runAttacksBench(args);
    return 0;
  }
  if (name === 'queue') {
    await runQueueBench({ jobs: flagNumber(args, 'jobs', args.flags.has('quick') ? 20 : 50), out: join(import.meta.dirname, '..', '..', 'bench', 'results', 'queue.json') });
    return 0;
  }
  if (name === 'diffusion') {
    await runDiffusionBench(args);
    return 0;
  }
  console.error(`unknown benchmark "${name}"\n\n${USAGE}`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
