// eclipse train | eval: the classifier trainer over prepared datasets.
import { join } from 'node:path';

import { pickDevice, setNumThreads } from '../engine/index.js';
import { CLASSIFIERS, createClassifier } from '../nn/models/index.js';
import { loadCheckpoint } from '../nn/checkpoint.js';
import { SPARSE_POOL_PER_CLASS, prepareDataDir } from '../data/prepare.js';
import { loadDataset } from '../data/store.js';
import type { ImageDataset } from '../data/dataset.js';
import { classifierProfile, type ClassifierRecipe, type ProfileName, type ScheduleName } from '../profiles.js';
import { evaluate, trainClassifier } from '../training/trainer.js';
import { compensation } from '../defenses/compensation.js';
import { ECLIPSE_FLAGS, compensationFrom } from './eclipseflags.js';
import { COMMON_HELP, UsageError, int, interruptible, num, numList, oneOf, parse, profileOf, required, str, type Flags } from './args.js';
import { BASELINE_NAMES, DEFENSES, DEFENSE_NAMES, createDefense, isDefenseName, planTrainOptions, type Defense } from '../defenses/baselines/index.js';
import { suggest } from '../settings.js';
import { overridesFrom, tableFlags, tablesHelp, type SettingTables } from './settingflags.js';
import { defaultDataDir } from './data.js';

/** Every baseline defence's settings table, by name. */
/** The baselines' settings tables (ECLIPSE's flags are its own: cli/eclipseflags.ts). */
export const DEFENSE_TABLES: SettingTables = Object.fromEntries(BASELINE_NAMES.map((d) => [d, DEFENSES[d].settings]));

export const TRAIN_HELP = `eclipse train [options]

Train a classifier and evaluate it on clean test images. Writes OUT/checkpoint.safetensors
(every epoch, atomically), OUT/metrics.jsonl and OUT/result.json.

Data (default: import CIFAR-10 for the profile into data/cifar10-<profile>/ if needed):
  --train FILE --test FILE   datasets (.safetensors from eclipse data import / poison / purify)
  --source PATH              CIFAR-10 binary release to import from (default $ECLIPSE_CIFAR10)
Run:
  --out DIR                  default runs/train-<profile>-seed<seed>
  --resume                   continue from OUT/checkpoint.safetensors
  --overwrite                replace a run of other inputs in OUT (a finished run of the same
                             inputs is reported as done; anything else in OUT is refused)
Recipe overrides (profile mini: resnet18 width 16, 30 epochs, cosine lr 0.1, wd 5e-4):
  --model resnet18|resnet34|resnet50|vgg16|vgg19|densenet121
  --width N  --epochs N  --batch-size N  --lr X  --momentum X  --nesterov  --weight-decay X
  --schedule constant|cosine|multistep  --milestones E1,E2  --gamma X
  --no-crop  --no-flip  --eval-every K  --nchw (keep NCHW layout instead of channels-last)
Baseline defence (the paper's Table 1; eclipse defend runs ECLIPSE itself):
  --defense NAME             ${BASELINE_NAMES.join('|')} (default none)
  --clean-train FILE         AVATAR's clean training set (default data/cifar10-<profile>/train.safetensors)
${defenseList()}
Defence settings (each applies to its defence only; the profile gives the defaults):
${tablesHelp(DEFENSE_TABLES)}
Corruption compensation (ECLIPSE's training-time module, after crop/flip; composes with a defence):
  --compensation             random grayscale with probability p, then Gaussian noise sigma
  --p X                      grayscale probability (default 0.4)
  --sigma X                  noise std on [0,1] pixels (default 0.05)
${COMMON_HELP}`;

export const EVAL_HELP = `eclipse eval --checkpoint FILE [--test FILE]

Test accuracy of a trained classifier checkpoint (model and width read from its metadata).
${COMMON_HELP}`;

const SCHEDULES: readonly ScheduleName[] = ['constant', 'cosine', 'multistep'];

export const RECIPE_FLAGS = {
  train: { type: 'string' },
  test: { type: 'string' },
  source: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  model: { type: 'string', check: oneOf(CLASSIFIERS) },
  width: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  nesterov: { type: 'boolean' },
  'weight-decay': { type: 'string' },
  schedule: { type: 'string', check: oneOf(SCHEDULES) },
  milestones: { type: 'string' },
  gamma: { type: 'string' },
  'no-crop': { type: 'boolean' },
  'no-flip': { type: 'boolean' },
  'eval-every': { type: 'string' },
  nchw: { type: 'boolean' },
  compensation: { type: 'boolean' },
  p: ECLIPSE_FLAGS.p!,
  sigma: ECLIPSE_FLAGS.sigma!,
} as const;

/** The --defense flag and its settings flags (eclipse train and eclipse defend). */
export const DEFENSE_FLAGS = { defense: { type: 'string' }, 'clean-train': { type: 'string' }, ...tableFlags(DEFENSE_TABLES) } as const;

/** One line per defence: name, what it does, cost, citation (for --help). */
export function defenseList(): string {
  const RANDOMNESS = { none: 'none (deterministic)', defense: 'its own run, by --seed (a matrix cell\'s defence seed)', training: 'per batch in the classifier\'s run, by --seed' } as const;
  return BASELINE_NAMES.filter((d) => d !== 'none')
    .map((d) => `    ${d.padEnd(7)} ${DEFENSES[d].title} [cost ${DEFENSES[d].cost}; randomness: ${RANDOMNESS[DEFENSES[d].randomness]}]
            ${DEFENSES[d].citation}`)
    .join('\n');
}

/** The baseline defence the flags name (none by default), its settings checked. */
export function defenseFrom(f: Flags, profile: ProfileName): Defense {
  const name = str(f, 'defense') ?? 'none';
  if (!isDefenseName(name)) throw new UsageError(`unknown defence "${name}"${suggest(name, DEFENSE_NAMES)}: choose one of ${BASELINE_NAMES.join(', ')}`);
  if (DEFENSES[name].runs === 'stages') throw new UsageError(`--defense ${name}: ${DEFENSES[name].label} needs its denoiser and purification stages: run eclipse defend (its default defence)`);
  return createDefense(name, { profile, settings: overridesFrom(f, name, DEFENSE_TABLES) });
}

/** AVATAR's clean training set: --clean-train, else the profile's CIFAR-10 import (other defences: none). */
export async function cleanTrainFrom(f: Flags, d: Defense, profile: ProfileName): Promise<ImageDataset | undefined> {
  if (d.name !== 'avatar') {
    if (str(f, 'clean-train') !== undefined) throw new UsageError(`--clean-train applies to --defense avatar only (not ${d.name})`);
    return undefined;
  }
  return loadDataset(str(f, 'clean-train') ?? join(defaultDataDir(profile), 'train.safetensors'));
}

/** The profile's classifier recipe, then `base` (a caller's profile-level changes), then the flags. */
export function recipeFrom(f: Flags, profile: ProfileName, base: Partial<ClassifierRecipe> = {}): ClassifierRecipe {
  const r: ClassifierRecipe = { ...classifierProfile(profile), ...base };
  r.model = str(f, 'model') ?? r.model; // checked as the flags are parsed
  // ranges: FLAG_RANGES (src/settings.ts), checked as the flags are parsed and again here
  r.width = int(f, 'width') ?? r.width;
  r.epochs = int(f, 'epochs') ?? r.epochs;
  r.batchSize = int(f, 'batch-size') ?? r.batchSize;
  r.lr = num(f, 'lr') ?? r.lr;
  r.momentum = num(f, 'momentum') ?? r.momentum;
  r.nesterov = f.nesterov === true || r.nesterov;
  r.weightDecay = num(f, 'weight-decay') ?? r.weightDecay;
  const s = str(f, 'schedule');
  if (s !== undefined) {
    if (!SCHEDULES.includes(s as ScheduleName)) throw new UsageError(`--schedule ${oneOf(SCHEDULES)(s)}`);
    r.schedule = s as ScheduleName;
  }
  r.milestones = numList(f, 'milestones') ?? r.milestones;
  r.gamma = num(f, 'gamma') ?? r.gamma;
  if (f['no-crop']) r.crop = false;
  if (f['no-flip']) r.flip = false;
  r.evalEvery = int(f, 'eval-every') ?? r.evalEvery;
  return r;
}

export function runtimeFrom(f: Flags): { seed: number; device: ReturnType<typeof pickDevice>; threads: number } {
  const threads = int(f, 'threads') ?? 2;
  setNumThreads(threads);
  const dev = str(f, 'device') ?? 'auto';
  if (!['auto', 'cpu'].includes(dev) && !dev.startsWith('cuda')) throw new UsageError(`--device must be auto, cpu or cuda (got "${dev}")`);
  return { seed: int(f, 'seed') ?? 0, device: pickDevice(dev as 'auto'), threads };
}

/**
 * Training and test sets from --train/--test, else the profile's imported CIFAR-10. The split is
 * fixed (seed 0) so runs with different --seed train on the same images.
 */
export async function datasetsFrom(f: Flags, profile: ProfileName, quiet: boolean): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const trainFile = str(f, 'train');
  const testFile = str(f, 'test');
  if (trainFile || testFile) {
    if (!trainFile || !testFile) throw new UsageError('give both --train and --test (or neither, to use the profile\'s CIFAR-10 import)');
    return { train: await loadDataset(trainFile), test: await loadDataset(testFile) };
  }
  const r = classifierProfile(profile);
  const data = await prepareDataDir(
    defaultDataDir(profile),
    { source: str(f, 'source'), trainPerClass: r.trainPerClass, testPerClass: r.testPerClass, sparsePoolPerClass: SPARSE_POOL_PER_CLASS, seed: 0 },
    (m) => quiet || console.error(m),
  );
  return { train: data.train, test: data.test };
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, { ...RECIPE_FLAGS, ...DEFENSE_FLAGS, overwrite: { type: 'boolean' } }, 0);
  if (flags.help) return console.log(TRAIN_HELP);
  const profile = profileOf(flags);
  const recipe = recipeFrom(flags, profile);
  const rt = runtimeFrom(flags);
  const quiet = flags.quiet === true;
  const defense = defenseFrom(flags, profile);
  for (const f of ['p', 'sigma'] as const)
    if (flags[f] !== undefined && !flags.compensation) throw new UsageError(`--${f} sets the compensation module: add --compensation`);
  const data = await datasetsFrom(flags, profile, quiet);
  const test = data.test;
  const out = str(flags, 'out') ?? join('runs', `train-${profile}-seed${rt.seed}`);
  const stop = interruptible('run the same command with --resume to continue');
  const plan = await defense.plan(data.train, {
    profile, seed: rt.seed, device: rt.device, recipe, workDir: join(out, 'defense-work'), cleanTrain: await cleanTrainFrom(flags, defense, profile),
    quiet, log: (m) => quiet || console.error(m), signal: stop.signal,
  });
  const train = plan.train;
  const comp = flags.compensation ? compensation(compensationFrom(flags, profile)) : undefined;
  const hooks = planTrainOptions(defense, plan, comp);
  const res = await trainClassifier(train, test, {
    signal: stop.signal,
    recipe,
    seed: rt.seed,
    outDir: out,
    resume: flags.resume === true,
    overwrite: flags.overwrite === true,
    device: rt.device,
    threads: rt.threads,
    channelsLast: flags.nchw !== true,
    ...hooks,
    quiet,
    tags: { profile, train: data.train.meta.path ?? data.train.meta.source ?? '', attack: train.meta.attack ?? 'none', ...hooks.tags },
  });
  stop.done();
  console.log(`${defense.name === 'none' ? '' : `${defense.name}: `}test accuracy ${(100 * res.testAcc).toFixed(2)}% (${test.n} images) after ${recipe.epochs} epochs in ${(res.seconds / 60).toFixed(1)} min; run in ${out}`);
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, { checkpoint: { type: 'string' }, test: { type: 'string' }, source: { type: 'string' } });
  if (flags.help) return console.log(EVAL_HELP);
  const ckpt = required(flags, 'checkpoint', 'a checkpoint.safetensors written by eclipse train');
  const profile = profileOf(flags);
  const rt = runtimeFrom(flags);
  // The checkpoint is checked before the test set is read (or CIFAR-10 imported): a wrong file
  // fails at once, with what it is rather than a list of the tensors it lacks.
  const { readSafetensors } = await import('../io/safetensors.js');
  const { CHECKPOINT_FORMAT } = await import('../nn/checkpoint.js');
  const { DATASET_FORMAT, sniff } = await import('../data/store.js');
  const takes = 'eval takes a classifier checkpoint written by eclipse train';
  const file = await readSafetensors(ckpt).catch(async (e: unknown) => {
    const kind = /not a valid safetensors file/.test((e as Error).message) ? await sniff(ckpt) : null;
    throw new Error(`${kind ? `${ckpt}: ${kind}, not a checkpoint` : (e as Error).message}; ${takes}`, { cause: e });
  });
  const meta = file.metadata;
  if (meta.format === DATASET_FORMAT) throw new Error(`${ckpt} is a dataset, not a checkpoint: ${takes} (--checkpoint), and the images to test go to --test`);
  if (meta.kind !== undefined && meta.kind !== 'classifier') throw new Error(`${ckpt}: this is a ${meta.kind} checkpoint (kind=${meta.kind}): ${takes}`);
  // Files of other tools (no eclipse format) are tried as a ResNet-18; our own jobs' checkpoints name their model.
  if (meta.format === CHECKPOINT_FORMAT && meta.model === undefined) throw new Error(`${ckpt}: this checkpoint names no model, so another job wrote it (an attack's surrogate?): ${takes}`);
  const test = str(flags, 'test')
    ? await loadDataset(str(flags, 'test')!)
    : (await datasetsFrom({ ...flags, train: undefined }, profile, flags.quiet === true)).test;
  const model = createClassifier(meta.model ?? 'resnet18', { width: Number(meta.width ?? 64), numClasses: test.classes.length, device: rt.device });
  // A head of another size means other classes: say so in classes, not tensor shapes.
  for (const [name, t] of model.stateDict()) {
    const f = file.tensors[name];
    const k = test.classes.length;
    if (!f || t.shape[0] !== k || f.shape[0] === k || f.shape.length !== t.shape.length || f.shape.slice(1).join() !== t.shape.slice(1).join()) continue;
    model.dispose();
    const testName = str(flags, 'test') ?? `of profile ${profile}`;
    throw new Error(`${ckpt}: the classifier tells ${f.shape[0]} classes apart but the test set ${testName} has ${k} (${test.classes.join(', ')}); test it on images of the classes it was trained on`);
  }
  await loadCheckpoint(ckpt, { model }).catch((e: unknown) => {
    model.dispose();
    throw e;
  });
  model.to(undefined, 'channels_last');
  const { acc, loss } = evaluate(model, test, { device: rt.device, channelsLast: true });
  model.dispose();
  console.log(`test accuracy ${(100 * acc).toFixed(2)}%, loss ${loss.toFixed(4)} on ${test.n} images (${ckpt})`);
}
