// Child process for the small-channel regression test: trains the smoke ResNet-18 at every
// width 1..8, channels-last and NCHW, on 1 and 2 threads, twice each with the same seed, and
// prints one JSON line per run. It runs in a child so that the parent can pick oneDNN's
// instruction set (ONEDNN_MAX_CPU_ISA is read once, at oneDNN's first use) and survive a crash.
import { classifierProfile } from '../../src/profiles.js';
import { trainClassifier } from '../../src/training/trainer.js';
import { makeTempDir, syntheticDataset } from './tmp.js';

const widths = (process.argv[2] ?? '1,2,3,4,5,6,7,8').split(',').map(Number);
const ds = syntheticDataset({ classes: ['a', 'b', 'c', 'd'], perClass: 8, seed: 11 });
const tmp = makeTempDir('eclipse-sweep-');
try {
  for (const layout of ['channels-last', 'nchw'] as const) {
    for (const threads of [1, 2]) {
      for (const width of widths) {
        for (const run of [1, 2]) {
          const recipe = { ...classifierProfile('smoke'), width, epochs: 2, batchSize: 8, evalEvery: 0 };
          const outDir = `${tmp.dir}/${layout}-${threads}-${width}-${run}`;
          const res = await trainClassifier(ds, ds, { recipe, seed: 3, outDir, quiet: true, threads, channelsLast: layout === 'channels-last' });
          const trainLoss = res.epochs.map((e) => e.train_loss);
          console.log(JSON.stringify({ layout, threads, width, run, testLoss: res.testLoss, trainLoss }));
        }
      }
    }
  }
} finally {
  tmp.cleanup();
}
