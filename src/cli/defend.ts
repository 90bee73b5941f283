// eclipse defend
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { loadDataset } from '../data/store.js';
import { defend, defendWithBaseline } from '../pipeline/defend.js';
import type { Components } from '../defenses/eclipse.js';
import { BASELINE_NAMES, ECLIPSE } from '../defenses/registry.js';
import { scanDataset } from '../scan/scan.js';
import { formatScan, writeScan } from './scan.js';
import type { ClassifierRecipe, ProfileName } from '../profiles.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Defense } from '../defenses/baselines/index.js';
import { COMMON_HELP, UsageError, int, interruptible, parse, profileOf, required, str, type Flags } from './args.js';
import { defaultDataDir } from './data.js';
import { ECLIPSE_FLAGS, ECLIPSE_HELP, compensationFrom, dataFile, eclipseFrom, log } from './eclipseflags.js';
import { overridesFrom } from './settingflags.js';
import { DEFENSE_FLAGS, DEFENSE_TABLES, RECIPE_FLAGS, cleanTrainFrom, defenseFrom, recipeFrom, runtimeFrom } from './train.js';

export const DEFEND_HELP = `eclipse defend --train FILE [options]

The whole defence with one command: sparse set, denoiser training, purification, classifier
training with the compensation module, evaluation. Every stage is cached by its inputs in
OUT, so a re-run skips what is done and resumes what was interrupted.
  --train FILE        the (possibly poisoned) training set
  --test FILE         clean evaluation images (default data/cifar10-<profile>/test.safetensors)
  --pool FILE         the defender's clean images (default data/cifar10-<profile>/sparse-pool.safetensors)
  --out DIR           default runs/defend-<profile>
  --no-purify --no-grayscale --no-noise   ablations (the paper's A, B, C)
  --classifier-seed N
  --scan              run eclipse scan on the training set first (OUT/scan.json, scan.html)
  --defense NAME      eclipse (default) or a baseline instead: ${BASELINE_NAMES.filter((d) => d !== 'none').join(', ')}, none
                      (eclipse train --help lists them with citations and settings); with a
                      baseline, --compensation adds ECLIPSE's compensation module on top
  --compensation      (baselines only) add the compensation module (its --p/--sigma as ECLIPSE's)
${ECLIPSE_HELP}
Classifier: the flags of eclipse train (--model, --width, --epochs, --lr, ...).
${COMMON_HELP}`;

export async function defendCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, {
    ...RECIPE_FLAGS,
    ...ECLIPSE_FLAGS,
    ...DEFENSE_FLAGS,
    pool: { type: 'string' },
    'no-purify': { type: 'boolean' },
    'no-grayscale': { type: 'boolean' },
    'no-noise': { type: 'boolean' },
    'classifier-seed': { type: 'string' },
    scan: { type: 'boolean' },
  }, 0);
  if (flags.help) return console.log(DEFEND_HELP);
  const profile = profileOf(flags);
  const rt = runtimeFrom(flags);
  const trainPath = required(flags, 'train', 'the training set to defend (e.g. from eclipse poison)');
  const components: Components = { purify: !flags['no-purify'], grayscale: !flags['no-grayscale'], noise: !flags['no-noise'] };
  // every flag is checked before the scan or any stage runs
  const eclipse = eclipseFrom(flags, profile);
  const classifier = recipeFrom(flags, profile);
  const classifierSeed = int(flags, 'classifier-seed');
  const baseline = (str(flags, 'defense') ?? ECLIPSE) !== ECLIPSE ? await baselineFrom(flags, profile) : undefined;
  if (!baseline) {
    overridesFrom(flags, ECLIPSE, DEFENSE_TABLES); // a baseline's settings flag without its --defense is an error
    for (const f of ['compensation', 'clean-train'] as const)
      if (flags[f] !== undefined) throw new UsageError(`--${f} applies to a baseline --defense; ECLIPSE always runs its compensation module (set it with --p/--sigma, switch parts off with --no-grayscale/--no-noise)`);
  }
  const testPath = dataFile(flags, 'test', profile, 'test.safetensors');
  const poolPath = baseline ? undefined : dataFile(flags, 'pool', profile, 'sparse-pool.safetensors');
  if (flags.scan) await scanFirst(flags, profile, trainPath);
  if (baseline) return defendBaselineCommand(flags, profile, { trainPath, testPath }, baseline, classifier, classifierSeed);
  const stop = interruptible();
  const res = await defend({
    train: await loadDataset(trainPath),
    trainKey: trainPath,
    test: await loadDataset(testPath),
    sparsePool: await loadDataset(poolPath!),
    eclipse,
    classifier,
    profile,
    seed: rt.seed,
    classifierSeed,
    outDir: str(flags, 'out') ?? join('runs', `defend-${profile}`),
    components,
    device: rt.device,
    quiet: flags.quiet === true,
    force: flags.force === true,
    log: log(false),
    signal: stop.signal,
  });
  stop.done();
  // Name what ran: the full defence or the ablation the flags chose (the paper's A, B, C).
  const parts = [components.purify && 'purification', components.grayscale && 'grayscale', components.noise && 'noise'].filter(Boolean);
  const what = parts.length === 3 ? 'ECLIPSE' : parts.length ? `ECLIPSE ablation (${parts.join(' + ')})` : 'no defence';
  console.log(`${what}: test accuracy ${(100 * res.testAcc).toFixed(2)}%${res.purifiedPath ? `; purified set ${res.purifiedPath}` : ''}`);
}

/** eclipse defend --scan: the scan of the training set first, recorded in OUT/scan.json (and .html). */
async function scanFirst(flags: Flags, profile: ProfileName, trainPath: string): Promise<void> {
  const rt = runtimeFrom(flags);
  const train = await loadDataset(trainPath);
  const poolPath = str(flags, 'pool') ?? join(defaultDataDir(profile), 'sparse-pool.safetensors');
  const r = scanDataset(train, { trusted: existsSync(poolPath) ? await loadDataset(poolPath) : undefined, seed: rt.seed, device: rt.device, log: log(flags.quiet === true) });
  const out = str(flags, 'out') ?? join('runs', `defend-${profile}${(str(flags, 'defense') ?? ECLIPSE) === ECLIPSE ? '' : `-${str(flags, 'defense')}`}`);
  await writeScan(r, out, trainPath);
  console.log(`scan of ${trainPath} (recorded in ${join(out, 'scan.json')}):\n${formatScan(r)}`);
}

/** eclipse defend --defense NAME: the baseline and its clean set, its flags checked. */
async function baselineFrom(flags: Flags, profile: ProfileName): Promise<{ defense: Defense; cleanTrain: ImageDataset | undefined }> {
  for (const f of ['no-purify', 'no-grayscale', 'no-noise'] as const)
    if (flags[f]) throw new UsageError(`--${f} is an ECLIPSE ablation; with --defense ${str(flags, 'defense')} add or leave out --compensation instead`);
  const defense = defenseFrom(flags, profile);
  return { defense, cleanTrain: await cleanTrainFrom(flags, defense, profile) };
}

/** eclipse defend --defense NAME: a baseline (optionally with the compensation module) instead of ECLIPSE. */
async function defendBaselineCommand(
  flags: Flags, profile: ProfileName, { trainPath, testPath }: { trainPath: string; testPath: string },
  { defense, cleanTrain }: { defense: Defense; cleanTrain: ImageDataset | undefined }, classifier: ClassifierRecipe, classifierSeed: number | undefined,
): Promise<void> {
  const rt = runtimeFrom(flags);
  const stop = interruptible();
  const res = await defendWithBaseline({
    train: await loadDataset(trainPath),
    trainKey: trainPath,
    test: await loadDataset(testPath),
    defense,
    cleanTrain,
    compensation: flags.compensation ? compensationFrom(flags, profile) : null,
    classifier,
    profile,
    seed: rt.seed,
    classifierSeed,
    outDir: str(flags, 'out') ?? join('runs', `defend-${profile}-${defense.name}`),
    device: rt.device,
    quiet: flags.quiet === true,
    log: log(false),
    signal: stop.signal,
  });
  stop.done();
  console.log(`${defense.name}${flags.compensation ? ' + compensation' : ''} (${defense.setting}): test accuracy ${(100 * res.testAcc).toFixed(2)}%`);
}
