// RSS soak: train a CIFAR ResNet-18 on random batches for many steps and report whether the
// process's resident memory stays flat (the bar: RSS after 2,000 steps within 10% of
// RSS after 200 steps).
//
//   node dist/test/helpers/rss-soak.js [--steps 2000] [--width 16] [--batch 32] [--size 32]
//                                      [--threads 2] [--early 200] [--format contiguous|channels_last]
//                                      [--yield 0]
//
// --yield N awaits setImmediate every N steps (0: never, a fully synchronous loop like one
// epoch of src/training/trainer.ts). N-API runs the finalizers of garbage-collected tensor
// handles from the event loop, so a loop that never yields piles them up (see the report in
// test/memory.test.ts).
//
// Prints one JSON line on stdout; progress goes to stderr. Exit code 1 when the bar is missed.
// It is not a test: under `node --test` (which also runs helper files in test folders) it
// does nothing.
import { F, Generator, liveTensors, tidy } from '../../src/engine/index.js';
import { resnet18 } from '../../src/nn/models/resnet.js';
import { SGD } from '../../src/nn/optim.js';

interface SoakOptions {
  steps: number;
  width: number;
  batch: number;
  size: number;
  threads: number;
  early: number;
  format: 'contiguous' | 'channels_last';
  yield: number;
}

function parseArgs(argv: string[]): SoakOptions {
  const o: SoakOptions = { steps: 2000, width: 16, batch: 32, size: 32, threads: 2, early: 200, format: 'contiguous', yield: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '');
    const val = argv[i + 1];
    if (val === undefined) throw new Error(`--${key} needs a value`);
    if (key === 'format') {
      if (val !== 'contiguous' && val !== 'channels_last') throw new Error('--format is contiguous or channels_last');
      o.format = val;
    } else if (key in o) {
      const n = Number(val);
      if (!Number.isInteger(n) || n < (key === 'yield' ? 0 : 1)) throw new Error(`--${key} must be a ${key === 'yield' ? 'non-negative' : 'positive'} integer`);
      (o as unknown as Record<string, number>)[key] = n;
    } else throw new Error(`unknown option --${key}`);
  }
  if (o.early >= o.steps) throw new Error('--early must be below --steps');
  return o;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

async function soak(o: SoakOptions): Promise<Record<string, unknown>> {
  F.setNumThreads(o.threads);
  const gen = new Generator(0);
  const model = resnet18({ width: o.width, generator: gen });
  if (o.format === 'channels_last') model.to(undefined, 'channels_last');
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const t0 = performance.now();
  let rssEarly = 0;
  let liveEarly = 0;
  let peak = 0;
  let lastLoss = NaN;
  for (let step = 1; step <= o.steps; step++) {
    lastLoss = tidy(() => {
      opt.zeroGrad();
      let x = F.randn([o.batch, 3, o.size, o.size], { generator: gen });
      if (o.format === 'channels_last') x = x.contiguous('channels_last');
      const y = F.randint(0, 10, [o.batch], { generator: gen });
      const loss = F.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss.item();
    });
    if (o.yield > 0 && step % o.yield === 0) await new Promise((resolve) => setImmediate(resolve));
    const rss = process.memoryUsage().rss;
    peak = Math.max(peak, rss);
    if (step === o.early) {
      rssEarly = rss;
      liveEarly = liveTensors();
    }
    if (step % 100 === 0)
      process.stderr.write(`step ${step}/${o.steps}: rss ${mb(rss)} MiB, live tensors ${liveTensors()}, loss ${lastLoss.toFixed(3)}, ${((performance.now() - t0) / step).toFixed(0)} ms/step\n`);
  }
  const rssEnd = process.memoryUsage().rss;
  const ratio = rssEnd / rssEarly;
  const result = {
    steps: o.steps,
    width: o.width,
    batch: o.batch,
    size: o.size,
    threads: o.threads,
    format: o.format,
    yieldEvery: o.yield,
    earlyStep: o.early,
    rssEarlyMiB: mb(rssEarly),
    rssEndMiB: mb(rssEnd),
    peakRssMiB: mb(peak),
    ratio: Math.round(ratio * 10000) / 10000,
    pass: ratio <= 1.1,
    liveTensorsEarly: liveEarly,
    liveTensorsEnd: liveTensors(),
    lastLoss,
    msPerStep: Math.round((performance.now() - t0) / o.steps),
  };
  opt.dispose();
  model.dispose();
  return result;
}

if (process.env.NODE_TEST_CONTEXT === undefined) {
  const result = await soak(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(result));
  if (!result.pass || result.liveTensorsEarly !== result.liveTensorsEnd) process.exitCode = 1;
}
