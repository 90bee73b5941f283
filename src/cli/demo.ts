// eclipse demo
import { join } from 'node:path';

import { ATTACK_NAMES } from '../attacks/index.js';
import { formatTable, runDemo } from '../pipeline/demo.js';
import { COMMON_HELP, UsageError, int, interruptible, numList, oneOf, parse, profileOf, str, type Flags } from './args.js';
import { defaultDataDir } from './data.js';
import { ECLIPSE_FLAGS, ECLIPSE_HELP, eclipseFrom, log } from './eclipseflags.js';
import { RECIPE_FLAGS, recipeFrom, runtimeFrom } from './train.js';

export const DEMO_HELP = `eclipse demo [--profile mini] [--attack ar] [--seeds N | --seeds A,B] [--out DIR]

The main job: import CIFAR-10, poison it (AR by default; --attack any of eclipse poison --list,
model-based ones at the profile's settings), train four classifiers (clean;
poisoned without defence; poisoned + compensation module only; full ECLIPSE) for each seed,
print the accuracy table and write OUT/report.html (table + clean/poisoned/noised/purified grid).
Stages are cached: re-running resumes where it stopped.
  --seeds N      train every classifier for N seeds, --seed, --seed + 1, ... (default 1: seed 0
                 only; --seeds 2 gives the two-seed table); a list A,B names the seeds instead
  --source PATH  CIFAR-10 binary release (default $ECLIPSE_CIFAR10 or ../shared/datasets)
${ECLIPSE_HELP}
Classifier: the flags of eclipse train (--width, --epochs, ...); default: the profile's
classifier (mini: ResNet-18 width 16, 500 images per class, 30 epochs), at batch 64 in the mini
demo (at 128 whether AR bites depends on the seed; see docs/results.md).
${COMMON_HELP}`;

/**
 * The classifier seeds: one number is how many (from --seed, default 0), a list names them. The
 * denoiser, the purification and the poison stay at seed 0 either way (the table's spread is
 * the classifier's).
 */
export function demoSeeds(flags: Flags): number[] {
  const given = numList(flags, 'seeds');
  const first = int(flags, 'seed') ?? 0;
  if (given === undefined) return [first];
  if (given.length > 1) {
    if (flags.seed !== undefined) throw new UsageError('give the classifier seeds either as --seeds A,B or as --seed N with --seeds COUNT, not both');
    return given;
  }
  const count = given[0]!;
  if (count < 1) throw new UsageError(`--seeds is how many seeds to train (at least 1; got ${count}); name them as a list, e.g. --seeds 0,3`);
  return Array.from({ length: count }, (_, k) => first + k);
}

export async function demoCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, { ...RECIPE_FLAGS, ...ECLIPSE_FLAGS, attack: { type: 'string', check: oneOf(ATTACK_NAMES) }, seeds: { type: 'string' } }, 0);
  if (flags.help) return console.log(DEMO_HELP);
  const profile = profileOf(flags);
  const rt = runtimeFrom(flags);
  const seeds = demoSeeds(flags);
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
