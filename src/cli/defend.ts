// eclipse poison | denoiser train | purify | defend | demo
import { join } from 'node:path';

import {
  ATTACKS, ATTACK_NAMES, isAttackName, parseBound, parseEpsilon, poisonFile, suggest,
} from '../attacks/index.js';
import { loadDataset } from '../data/store.js';
import { trainDenoiser } from '../diffusion/train.js';
import { purifyDataset } from '../defenses/purify.js';
import { enlarge, selectSparseSet } from '../defenses/sparse.js';
import { defend, defendWithBaseline, type Components } from '../pipeline/defend.js';
import { DEFENSE_NAMES } from '../defenses/baselines/index.js';
import { scanDataset } from '../scan/scan.js';
import { formatScan, writeScan } from './scan.js';
import { existsSync } from 'node:fs';
import { COMPENSATION_DEFAULTS } from '../defenses/compensation.js';
import { formatTable, runDemo } from '../pipeline/demo.js';
import { eclipseProfile, type ClassifierRecipe, type EclipseProfile, type ProfileName } from '../profiles.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Defense } from '../defenses/baselines/index.js';
import { COMMON_HELP, UsageError, int, interruptible, num, numList, oneOf, parse, profileOf, required, str, unknownCommand, type Flags } from './args.js';
import { defaultDataDir } from './data.js';
import { overridesFrom, tableFlags, tablesHelp, type SettingTables } from './settingflags.js';
import { DEFENSE_FLAGS, DEFENSE_TABLES, RECIPE_FLAGS, cleanTrainFrom, defenseFrom, recipeFrom, runtimeFrom } from './train.js';

const log = (quiet: boolean) => (m: string): void => {
  if (!quiet) console.error(m);
};

/** A dataset flag's file: the one given, else the profile's CIFAR-10 import, which must be there. */
function dataFile(f: Flags, flag: string, profile: ProfileName, name: string): string {
  const given = str(f, flag);
  if (given !== undefined) return given;
  const file = join(defaultDataDir(profile), name);
  if (!existsSync(file)) throw new UsageError(`${file} not found: run eclipse data import --profile ${profile} first, or pass --${flag} FILE`);
  return file;
}

// ---------------------------------------------------------------------------

/** Every attack's settings table, by name. */
const ATTACK_TABLES: SettingTables = Object.fromEntries(ATTACK_NAMES.map((a) => [a, ATTACKS[a].settings]));

/** `eclipse poison --list`: every attack with its defaults, cost class and citation. */
export function attackList(): string {
  return ATTACK_NAMES.map((a) => {
    const s = ATTACKS[a];
    const lines = [`${a}  ${s.title}`, `    bound ${s.defaultEpsilon}; cost: ${s.cost}`, `    ${s.citation}`];
    for (const spec of Object.values(s.settings ?? {})) lines.push(`    --${spec.flag} ${spec.profiles.paper} (paper), ${spec.profiles.mini} (mini): ${spec.help}`);
    return lines.join('\n');
  }).join('\n');
}

export const POISON_HELP = `eclipse poison --attack ${ATTACK_NAMES.join('|')} [--in FILE] [--out FILE]
eclipse poison --list

Poison a clean dataset with an availability attack, by its original recipe.
Writes a dataset file with the attack, epsilon, seed and measured perturbation in its metadata.
Model-based attacks (${ATTACK_NAMES.filter((a) => ATTACKS[a].modelBased).join(', ')}) keep resumable state in OUT.work/
(surrogate runs, generation checkpoints): Ctrl-C stops at the next checkpoint and the same command continues.
  --list               every attack with its defaults, cost and citation
  --in FILE            clean dataset (default data/cifar10-<profile>/train.safetensors)
  --out FILE           default data/cifar10-<profile>/poison-<attack>-s<seed>.safetensors
  --epsilon E          urp and model-based: L_inf (default 8/255); lsp: L2 (default sqrt(3072)*6/255); ar: L2 (default 1)
  --bound linf:8/255   also check this bound (repeatable: comma-separated)
  --quantization round|floor
  --patch-size N --class-sep X       (lsp)
  --crop N --ar-coefficients auto|paper|search   (ar)
  --surrogate FILE     (model-based) classifier checkpoint from eclipse train, used as the surrogate
                       or reference model (default: trained on --in as the recipe says, cached in OUT.work)
  --work DIR           (model-based) resumable state (default OUT.work)
  --profile smoke|mini|paper   data folder and the model-based attacks' settings (default mini)
  --overwrite  --allow-repoison
Settings of the model-based attacks (default: the profile's value):
${tablesHelp(ATTACK_TABLES)}
${COMMON_HELP}`;

export async function poisonCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, {
    attack: { type: 'string' },
    list: { type: 'boolean' },
    in: { type: 'string' },
    out: { type: 'string' },
    epsilon: { type: 'string' },
    bound: { type: 'string' },
    quantization: { type: 'string', check: oneOf(['round', 'floor']) },
    'patch-size': { type: 'string' },
    'class-sep': { type: 'string' },
    crop: { type: 'string' },
    'ar-coefficients': { type: 'string', check: oneOf(['auto', 'paper', 'search']) },
    surrogate: { type: 'string' },
    ...tableFlags(ATTACK_TABLES),
    work: { type: 'string' },
    overwrite: { type: 'boolean' },
    'allow-repoison': { type: 'boolean' },
  }, 0);
  if (flags.help) return console.log(POISON_HELP);
  if (flags.list) return console.log(attackList());
  const attack = required(flags, 'attack', ATTACK_NAMES.join(', '));
  if (!isAttackName(attack)) throw new UsageError(`unknown attack "${attack}"${suggest(attack, ATTACK_NAMES)}: choose one of ${ATTACK_NAMES.join(', ')} (eclipse poison --list)`);
  const profile = profileOf(flags);
  const { seed, device } = runtimeFrom(flags);
  const dir = defaultDataDir(profile);
  const q = str(flags, 'quantization'); // choices checked as the flags are parsed
  const coeff = str(flags, 'ar-coefficients');
  const settings = overridesFrom(flags, attack, ATTACK_TABLES);
  let bounds;
  try {
    bounds = str(flags, 'bound')?.split(',').map(parseBound);
  } catch (e) {
    throw new UsageError(`--bound: ${(e as Error).message}`);
  }
  const stop = interruptible();
  const res = await poisonFile({
    attack,
    input: dataFile(flags, 'in', profile, 'train.safetensors'),
    output: str(flags, 'out') ?? join(dir, `poison-${attack}-s${seed}.safetensors`),
    seed,
    epsilon: str(flags, 'epsilon') !== undefined ? parseEpsilon(str(flags, 'epsilon')!) : undefined,
    bounds,
    quantization: q as 'round' | 'floor' | undefined,
    patchSize: int(flags, 'patch-size'),
    classSep: num(flags, 'class-sep'),
    crop: int(flags, 'crop'),
    coefficients: coeff as 'auto' | 'paper' | 'search' | undefined,
    profile,
    surrogate: str(flags, 'surrogate'),
    settings: Object.keys(settings).length ? settings : undefined,
    workDir: str(flags, 'work'),
    device,
    quiet: flags.quiet === true,
    signal: stop.signal,
    overwrite: flags.overwrite === true,
    allowRepoison: flags['allow-repoison'] === true,
    log: log(flags.quiet === true),
  }).finally(stop.done);
  console.log(res.summary);
}

// ---------------------------------------------------------------------------

const ECLIPSE_FLAGS = {
  'sparse-per-class': { type: 'string' },
  replication: { type: 'string' },
  'diffusion-steps': { type: 'string' },
  channels: { type: 'string' },
  'res-blocks': { type: 'string' },
  'attention-resolutions': { type: 'string' },
  'channel-mult': { type: 'string' },
  heads: { type: 'string' },
  dropout: { type: 'string' },
  iterations: { type: 'string' },
  'denoiser-batch-size': { type: 'string' },
  'denoiser-lr': { type: 'string' },
  'ema-decay': { type: 'string' },
  'train-max-t': { type: 'string' },
  't-star': { type: 'string' },
  'respaced-steps': { type: 'string' },
  'purify-batch-size': { type: 'string' },
  p: { type: 'string' },
  sigma: { type: 'string' },
  force: { type: 'boolean' },
} as const;

const ECLIPSE_HELP = `ECLIPSE settings (profile paper: B = 2000, M = 4, U-Net 128ch x3, T = 4000, 250K iterations, t* = 100 full chain):
  --sparse-per-class N  --replication M
  --diffusion-steps T  --channels N  --res-blocks N  --attention-resolutions 16,8  --channel-mult 1,2,2,2
  --heads N  --dropout X  --iterations N  --denoiser-batch-size N  --denoiser-lr X  --ema-decay X
  --train-max-t B       train the denoiser only on t <= B (speed option; 0 = off, as the paper)
  --t-star N            purification step t* (of T)
  --respaced-steps K    run K evenly spaced reverse steps instead of all t* (speed option; 0 = off)
  --purify-batch-size N  --p X (grayscale)  --sigma X (noise)
  --force               use a sparse set even if it overlaps the training set`;

export function eclipseFrom(f: Flags, profile: ProfileName): EclipseProfile {
  const e = eclipseProfile(profile);
  e.sparse.perClass = int(f, 'sparse-per-class') ?? e.sparse.perClass;
  e.sparse.replication = int(f, 'replication') ?? e.sparse.replication;
  const d = e.denoiser;
  d.steps = int(f, 'diffusion-steps') ?? d.steps;
  d.unet.modelChannels = int(f, 'channels') ?? d.unet.modelChannels;
  d.unet.numResBlocks = int(f, 'res-blocks') ?? d.unet.numResBlocks;
  d.unet.attentionResolutions = numList(f, 'attention-resolutions') ?? d.unet.attentionResolutions;
  d.unet.channelMult = numList(f, 'channel-mult') ?? d.unet.channelMult;
  d.unet.numHeads = int(f, 'heads') ?? d.unet.numHeads;
  d.unet.dropout = num(f, 'dropout') ?? d.unet.dropout;
  d.iterations = int(f, 'iterations') ?? d.iterations;
  d.batchSize = int(f, 'denoiser-batch-size') ?? d.batchSize;
  d.lr = num(f, 'denoiser-lr') ?? d.lr;
  d.emaDecay = num(f, 'ema-decay') ?? d.emaDecay;
  d.trainMaxT = int(f, 'train-max-t') ?? d.trainMaxT;
  e.purify.tStar = int(f, 't-star') ?? e.purify.tStar;
  e.purify.respacedSteps = int(f, 'respaced-steps') ?? e.purify.respacedSteps;
  e.purify.batchSize = int(f, 'purify-batch-size') ?? e.purify.batchSize;
  e.compensation.p = num(f, 'p') ?? e.compensation.p;
  e.compensation.sigma = num(f, 'sigma') ?? e.compensation.sigma;
  if (e.purify.tStar > d.steps) throw new UsageError(`--t-star must be in [1, ${d.steps}] (the diffusion steps T), got ${e.purify.tStar}`);
  if (d.trainMaxT > 0 && e.purify.tStar > d.trainMaxT)
    throw new UsageError(`--t-star ${e.purify.tStar} is above --train-max-t ${d.trainMaxT}: the denoiser would never have seen those steps`);
  return e;
}

export const DENOISER_HELP = `eclipse denoiser train [--pool FILE] [--train FILE] [--out DIR] [--resume]

Train the improved-DDPM denoiser from scratch on the sparse clean set, enlarged M times.
Writes DIR/denoiser.safetensors (raw + EMA weights, every --checkpoint-every iterations) and
DIR/preview-<iter>.png (clean / noised to t* / denoised).
  --pool FILE    clean images to draw the sparse set from (default data/cifar10-<profile>/sparse-pool.safetensors)
  --train FILE   the training set it must not overlap (default data/cifar10-<profile>/train.safetensors)
  --out DIR      default runs/denoiser-<profile>
  --resume       continue an unfinished denoiser in DIR (same sparse set, recipe and seed)
  --overwrite    replace a denoiser of other inputs in DIR (the same inputs, finished: reported as done)
${ECLIPSE_HELP}
${COMMON_HELP}`;

export async function denoiserCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'train') {
    if (sub === undefined || sub === '--help' || sub === '-h') return console.log(DENOISER_HELP);
    throw unknownCommand('denoiser', sub, ['train']);
  }
  const { flags } = parse(rest, { ...ECLIPSE_FLAGS, pool: { type: 'string' }, train: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, overwrite: { type: 'boolean' } }, 0);
  if (flags.help) return console.log(DENOISER_HELP);
  const profile = profileOf(flags);
  const e = eclipseFrom(flags, profile);
  const rt = runtimeFrom(flags);
  const pool = await loadDataset(dataFile(flags, 'pool', profile, 'sparse-pool.safetensors'));
  const train = await loadDataset(dataFile(flags, 'train', profile, 'train.safetensors'));
  const sparse = selectSparseSet(pool, { perClass: e.sparse.perClass, seed: rt.seed, trainSet: train, force: flags.force === true });
  const stop = interruptible();
  const res = await trainDenoiser(enlarge(sparse, e.sparse.replication), {
    recipe: e.denoiser,
    seed: rt.seed,
    outDir: str(flags, 'out') ?? join('runs', `denoiser-${profile}`),
    resume: flags.resume === true,
    overwrite: flags.overwrite === true,
    device: rt.device,
    quiet: flags.quiet === true,
    previewTStar: e.purify.tStar,
    signal: stop.signal,
  });
  stop.done();
  console.log(`denoiser trained for ${res.iterations} iterations in ${(res.seconds / 60).toFixed(1)} min (loss ${res.finalLoss.toFixed(4)}): ${res.checkpoint}`);
}

export const PURIFY_HELP = `eclipse purify --checkpoint FILE --in FILE --out FILE

Purify a (poisoned) dataset: diffuse every image to t* in one step and denoise it with the
checkpoint's EMA weights. Seeded; written shard by shard (re-run the command to resume).
  --t-star N  --respaced-steps K  --purify-batch-size N  --shard-size N
  --overwrite               replace an OUT made from other inputs (the same inputs: reported as done)
  --queue URL --store DIR   one job per shard for eclipse worker processes (docs/queue.md); the
                            output is byte-identical to a run on one machine with the same seed
${COMMON_HELP}`;

export async function purifyCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, { ...ECLIPSE_FLAGS, checkpoint: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, 'shard-size': { type: 'string' }, queue: { type: 'string' }, store: { type: 'string' }, overwrite: { type: 'boolean' } }, 0);
  if (flags.help) return console.log(PURIFY_HELP);
  const profile = profileOf(flags);
  const e = eclipseFrom(flags, profile);
  e.purify.shardSize = int(flags, 'shard-size') ?? e.purify.shardSize;
  const rt = runtimeFrom(flags);
  const input = required(flags, 'in', 'the dataset to purify (.safetensors)');
  const out = required(flags, 'out', 'the purified dataset file to write (.safetensors)');
  const checkpoint = required(flags, 'checkpoint', 'denoiser.safetensors from eclipse denoiser train');
  const stop = interruptible();
  const queue = str(flags, 'queue');
  if (queue) {
    const { purifyOnQueue } = await import('../queue/coordinator.js'); // loads BullMQ only when asked
    const r = await purifyOnQueue({ queue, store: required(flags, 'store', 'the shared artifact store every worker mounts'), input, checkpoint, recipe: e.purify, seed: rt.seed, out, overwrite: flags.overwrite === true, quiet: flags.quiet === true, log: (m) => console.error(m), signal: stop.signal });
    stop.done();
    return console.log(`purified ${r.images} images in ${r.shards} shard job(s)${r.reused ? ` (${r.reused} already in the store)` : ''} -> ${out}`);
  }
  const ds = await loadDataset(input);
  const purified = await purifyDataset(ds, { recipe: e.purify, checkpoint, seed: rt.seed, out, overwrite: flags.overwrite === true, device: rt.device, quiet: flags.quiet === true, signal: stop.signal });
  stop.done();
  console.log(`purified ${purified.n} images -> ${out}`);
}

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
  --defense NAME      eclipse (default) or a baseline instead: ${DEFENSE_NAMES.filter((d) => d !== 'none').join(', ')}, none
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
  const baseline = (str(flags, 'defense') ?? 'eclipse') !== 'eclipse' ? await baselineFrom(flags, profile) : undefined;
  if (!baseline) {
    overridesFrom(flags, 'eclipse', DEFENSE_TABLES); // a baseline's settings flag without its --defense is an error
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
  const out = str(flags, 'out') ?? join('runs', `defend-${profile}${(str(flags, 'defense') ?? 'eclipse') === 'eclipse' ? '' : `-${str(flags, 'defense')}`}`);
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
    compensation: flags.compensation ? { p: num(flags, 'p') ?? COMPENSATION_DEFAULTS.p, sigma: num(flags, 'sigma') ?? COMPENSATION_DEFAULTS.sigma } : null,
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

