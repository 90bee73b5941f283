// `npm run bench -- diffusion`: the improved-DDPM U-Net's train step (Adam on the eps-MSE) and
// sampling step (one reverse-step network call), eclipse vs the same U-Net in PyTorch, 2 threads
// each, rounds interleaved so machine drift hits both alike; medians; ratio = ours / PyTorch.
import { join } from 'node:path';

import { F, Generator, Tensor, noGrad, setNumThreads, tidy } from '../src/engine/index.js';
import { AdamW } from '../src/nn/optim.js';
import { UNet, type UNetConfig } from '../src/diffusion/unet.js';
import { PyPeer, flagNumber, machineInfo, median, repoRoot, round, table, writeJsonAtomic, type ParsedArgs } from './common.js';

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
function ours(c: Config): { step: () => void; dispose: () => void } {
  const m = new UNet({ ...c.unet, generator: new Generator(0) });
  m.train(c.mode === 'train');
  const x = F.randn([c.batch, 3, 32, 32]).keep();
  const t = tidy(() => F.randint(0, 1000, [c.batch]).to('float32'));
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
  };
  return { step, dispose: () => [x, t as Tensor].forEach((v) => v.dispose()) };
}

export async function runDiffusionBench(args: ParsedArgs): Promise<void> {
  const quick = args.flags.has('quick');
  const rounds = flagNumber(args, 'rounds', quick ? 3 : 5);
  const threads = flagNumber(args, 'threads', 2);
  setNumThreads(threads);
  const peer = new PyPeer(join(repoRoot(), 'bench', 'torch_diffusion.py'), [], { BENCH_THREADS: String(threads) });
  const results: Record<string, unknown> = { machine: machineInfo(), settings: { rounds, threads, quick } };
  const rows: (string | number)[][] = [];
  try {
    for (const c of CONFIGS) {
      const mine = ours(c);
      const steps = c.unet.numResBlocks > 1 ? 1 : 2;
      // warm-up both
      mine.step();
      await peer.request({ op: 'run', config: c.unet, mode: c.mode, batch: c.batch, steps: 1 });
      const oursS: number[] = [];
      const torchS: number[] = [];
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < steps; i++) {
          const t0 = performance.now();
          mine.step();
          oursS.push((performance.now() - t0) / 1000);
        }
        const reply = await peer.request<{ seconds: number[] }>({ op: 'run', config: c.unet, mode: c.mode, batch: c.batch, steps });
        torchS.push(...reply.seconds);
      }
      mine.dispose();
      const o = c.batch / median(oursS);
      const p = c.batch / median(torchS);
      results[c.name] = { mode: c.mode, batch: c.batch, unet: c.unet, ours_img_s: round(o, 2), pytorch_img_s: round(p, 2), ratio: round(o / p, 3), meets_bar: o / p >= 0.95 };
      rows.push([c.name, round(o, 2), round(p, 2), round(o / p, 3)]);
      console.error(`${c.name}: ours ${o.toFixed(1)} img/s, PyTorch ${p.toFixed(1)} img/s`);
    }
  } finally {
    await peer.close();
  }
  console.log(table(['config', 'ours img/s', 'pytorch img/s', 'ratio'], rows));
  const out = join(repoRoot(), 'bench', 'results', 'diffusion.json');
  writeJsonAtomic(out, results);
  console.log(`wrote ${out} (bar: ratio >= 0.95)`);
}
