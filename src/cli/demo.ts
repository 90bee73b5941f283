// eclipse demo
import { join } from 'node:path';

import { ATTACK_NAMES } from '../attacks/index.js';
import { formatTable, runDemo } from '../pipeline/demo.js';
import { COMMON_HELP, interruptible, numList, oneOf, parse, profileOf, str } from './args.js';
import { defaultDataDir } from './data.js';
import { ECLIPSE_FLAGS, ECLIPSE_HELP, eclipseFrom, log } from './eclipseflags.js';
import { RECIPE_FLAGS, recipeFrom, runtimeFrom } from './train.js';

export const DEMO_HELP = `eclipse demo [--profile mini] [--attack ar] [--seeds 0,1] [--out DIR]

The main job: import CIFAR-10, poison it (AR by default; --attack any of eclipse poison --list,
model-based ones at the profile's settings), train four classifiers (clean;
poisoned without defence; poisoned + compensation module only; full ECLIPSE) for each seed,
print the accuracy table and write OUT/report.html (table + clean/poisoned/noised/purified grid).
Stages are cached: re-running resumes where it stopped.
  --source PATH  CIFAR-10 binary release (default $ECLIPSE_CIFAR10 or ../shared/datasets)
${ECLIPSE_HELP}
Classifier: the flags of eclipse train (--width, --epochs, ...); default: the profile's
classifier (mini: ResNet-18 width 16, 500 images per class, 30 epochs), at batch 64 in the mini
demo (at 128 whether AR bites depends on the seed; see docs/results.md).
${COMMON_HELP}`;

export async function demoCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, { ...RECIPE_FLAGS, ...ECLIPSE_FLAGS, attack: { type: 'string', check: oneOf(ATTACK_NAMES) }, seeds: { type: 'string' } }, 0);
  if (flags.help) return console.log(DEMO_HELP);
  const profile = profileOf(flags);
  const rt = runtimeFrom(flags);
  const seeds = numList(flags, 'seeds') ?? [0, 1];
  const attack = str(flags, 'attack') ?? 'ar';
  const eclipse = eclipseFrom(flags, profile);
  const classifier = recipeFrom(flags, profile, eclipse.demoClassifier);
  const stop = interruptible();
  const res = await runDemo({
    profile,
    classifier,
    eclipse,
    attack,
    seeds,
    outDir: str(flags, 'out') ?? join('runs', `demo-${profile}`),
    source: str(flags, 'source'),
    dataDir: defaultDataDir(profile),
    device: rt.device,
    quiet: flags.quiet === true,
    log: log(false),
    signal: stop.signal,
  });
  stop.done();
  console.log(formatTable(res.rows));
  console.log(`PSNR vs clean: poisoned ${res.psnrPoisoned.toFixed(2)} dB, purified ${res.psnrPurified.toFixed(2)} dB`);
  console.log(`report: ${res.report} (${res.minutes.toFixed(1)} min)`);
}
