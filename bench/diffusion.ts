// `npm run bench -- diffusion`: the improved-DDPM U-Net's train step (Adam on the eps-MSE) and
// sampling step (one reverse-step network call), eclipse vs the same U-Net in PyTorch, 2 threads
// each, rounds interleaved so machine drift hits both alike; medians; ratio = ours / PyTorch.
// `--device cuda` runs both on the GPU; every timed step then ends with a device
// synchronisation on both sides, so its wall time covers its kernels.
import { join } from 'node:path';

import { F, Generator, Tensor, noGrad, setNumThreads, tidy } from '../src/engine/index.js';
import { AdamW } from '../src/nn/optim.js';
import { UNet, type UNetConfig } from '../src/diffusion/unet.js';
import { PyPeer, flagNumber, machineInfo, median, repoRoot, round, table, writeJsonAtomic, type ParsedArgs } from './common.js';
import { benchDevice, type BenchDevice } from './engine.js';

interface Config {
  name: string;
  unet: Required<Pick<UNetConfig, 'imageSize' | 'inChannels' | 'modelChannels' | 'outChannels' | 'numResBlocks' | 'attentionResolutions' | 'channelMult' | 'numHeads' | 'numHeadsUpsample' | 'useScaleShiftNorm' | 'dropout'>>;
  mode: 'train' | 'sample';
  batch: number;
}

const base = { imageSize: 32, inChannels: 3, outChannels: 6, useScaleShiftNorm: true, dropout: 0 };
const MINI = { ...base, modelChannels: 32, numResBlocks: 1, attentionResolutions: [8], channelMult: [1, 2, 2], numHeads: 1, numHeadsUpsample: 1 };
const SMALL = { ...base, modelChannels: 32, numResBlocks: 2, attentionResolutions: [16, 8], channelMult: [1, 2, 2, 2], numHeads: 4, numHeadsUpsample: 4 };

const CONFIGS: Config[] = [
  { name: 'unet_mini_b32_train', unet: MINI, mode: 'train', batch: 32 },
  { name: 'unet_mini_b100_sample', unet: MINI, mode: 'sample', batch: 100 },
  { name: 'unet_32x2_b32_train', unet: SMALL, mode: 'train', batch: 32 },
  { name: 'unet_32x2_b64_sample', unet: SMALL, mode: 'sample', batch: 64 },
];

/** Ours: a closure running one step, and its teardown. */
function ours(c: Config, device: BenchDevice): { step: () => void; dispose: () => void } {
  const m = new UNet({ ...c.unet, generator: new Generator(0) });
  // Initialised on the CPU from the seed, then moved (as the PyTorch side does).
  if (device !== 'cpu') m.to(device);
  m.train(c.mode === 'train');
  const x = tidy(() => F.randn([c.batch, 3, 32, 32]).to(device));
  const t = tidy(() => F.randint(0, 1000, [c.batch]).to('float32').to(device));
  const opt = c.mode === 'train' ? new AdamW(m.parameters(), { lr: 1e-4, weightDecay: 0 }) : null;
  const step = (): void => {
    if (opt) {
      tidy(() => {
        opt.zeroGrad();
        const out = m.forward(x, t);
        out.narrow(1, 0, 3).sub(x).square().mean().backward();
        opt.step();
      });
    } else noGrad(() => tidy(() => void m.forward(x, t)));
    // On the GPU the step has only queued its kernels: wait for them.
    if (device !== 'cpu') F.synchronize();
  };
  return {
    step,
    dispose: () => {
      [x, t as Tensor].forEach((v) => v.dispose());
      opt?.dispose();
      m.dispose();
    },
  };
}

/** --configs NAME ...: a subset of CONFIGS by name (all of them without the flag). */
function pickConfigs(args: ParsedArgs): Config[] {
  const want = args.flags.get('configs');
  if (want === undefined) return CONFIGS;
  if (want === true) throw new Error(`--configs needs names: ${CONFIGS.map((c) => c.name).join(', ')}`);
  return want.map((name) => {
    const c = CONFIGS.find((k) => k.name === name);
    if (!c) throw new Error(`--configs: unknown config "${name}" (one of ${CONFIGS.map((k) => k.name).join(', ')})`);
    return c;
  });
}

export async function runDiffusionBench(args: ParsedArgs): Promise<void> {
  const quick = args.flags.has('quick');
  const device = benchDevice(args);
  const gpu = device === 'cuda';
  const rounds = flagNumber(args, 'rounds', quick ? 3 : 5);
  const threads = flagNumber(args, 'threads', 2);
  // A GPU step takes milliseconds: more steps per round (and warm-up for cuDNN and the
  // caching allocator) so that each round is long enough to time.
  const stepsFlag = flagNumber(args, 'steps', 0);
  const warmup = flagNumber(args, 'warmup', gpu ? 3 : 1);
  const configs = pickConfigs(args);
  const outFlag = args.flags.get('out');
  const out = outFlag === undefined || outFlag === true ? join(repoRoot(), 'bench', 'results', gpu ? 'diffusion-cuda.json' : 'diffusion.json') : outFlag[0]!;
  setNumThreads(threads);
  const peer = new PyPeer(join(repoRoot(), 'bench', 'torch_diffusion.py'), [], { BENCH_THREADS: String(threads) });
  const results: Record<string, unknown> = { machine: machineInfo(), settings: { rounds, threads, quick, device, warmup_steps: warmup } };
  const rows: (string | number)[][] = [];
  try {
    if (gpu) {
      const info = await peer.request<Record<string, unknown>>({ op: 'info', device });
      (results.machine as Record<string, unknown>).pytorch = info;
    }
    for (const c of configs) {
      const mine = ours(c, device);
      const steps = stepsFlag > 0 ? stepsFlag : gpu ? 10 : c.unet.numResBlocks > 1 ? 1 : 2;
      const req = { op: 'run', config: c.unet, mode: c.mode, batch: c.batch, device };
      // warm-up both
      for (let i = 0; i < warmup; i++) mine.step();
      await peer.request({ ...req, steps: warmup });
      const oursS: number[] = [];
      const torchS: number[] = [];
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < steps; i++) {
          const t0 = performance.now();
          mine.step();
          oursS.push((performance.now() - t0) / 1000);
        }
        const reply = await peer.request<{ seconds: number[] }>({ ...req, steps });
        torchS.push(...reply.seconds);
      }
      mine.dispose();
      const o = c.batch / median(oursS);
      const p = c.batch / median(torchS);
      results[c.name] = {
        mode: c.mode,
        batch: c.batch,
        device,
        steps_per_round: steps,
        unet: c.unet,
        ours_img_s: round(o, 2),
        pytorch_img_s: round(p, 2),
        ratio: round(o / p, 3),
        meets_bar: o / p >= 0.95,
      };
      rows.push([c.name, round(o, 2), round(p, 2), round(o / p, 3)]);
      console.error(`${c.name}: ours ${o.toFixed(1)} img/s, PyTorch ${p.toFixed(1)} img/s`);
    }
  } finally {
    await peer.close();
  }
  console.log(table(['config', 'ours img/s', 'pytorch img/s', 'ratio'], rows));
  writeJsonAtomic(out, results);
  console.log(`wrote ${out} (bar: ratio >= 0.95)`);
}
