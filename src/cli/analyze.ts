// eclipse analyze assimilation
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { MODEL_AGNOSTIC_ATTACKS as ATTACK_NAMES, isAttackName } from '../attacks/registry.js';
import { DEFAULT_STEPS, assimilation, assimilationTable, writeAssimilation, type AssimilationProgress } from '../analysis/index.js';
import { loadDataset } from '../data/store.js';
import type { NoiseScheduleName } from '../diffusion/schedule.js';
import type { ProfileName } from '../profiles.js';
import { suggest } from '../settings.js';
import { COMMON_HELP, UsageError, int, numList, oneOf, parse, profileOf, str, unknownCommand } from './args.js';
import { defaultDataDir } from './data.js';

/** Images analysed per profile (--images overrides). */
const IMAGES: Record<ProfileName, number> = { smoke: 64, mini: 500, paper: 2000 };

export const ANALYZE_HELP = `eclipse analyze assimilation [--in FILE] [--attacks ${ATTACK_NAMES.join(',')}] [--images N] [--out DIR]

How Gaussian noise assimilates poisons (the paper's Sec. 3.3, Fig. 2a and Theorem 1). N clean
images are poisoned with each attack; clean and poisoned copies go through the diffusion's forward
process x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps with independent noise, and at each step t:
  MMD^2  squared MMD, Gaussian kernel (bandwidth: median distance of the noiseless clean images,
         the same at every t), unbiased; the clean-vs-clean statistic with the same noise draws
         is subtracted as a control variate (the plain value is in the JSON/CSV too)
  KL     abar ||x_p - x_c||^2 / (2 (1 - abar)) per image pair, mean over images (nats; t > 0)
  PNR    poison-to-noise ratio ||delta||_2 / (sqrt(1 - abar) sqrt(D))
Images in [-1, 1] units. Prints a table; writes OUT/assimilation.json, .csv, .svg and .png.
  --in FILE            clean images (default data/cifar10-<profile>/train.safetensors)
  --attacks LIST       comma-separated, default ${ATTACK_NAMES.join(',')}
  --images N           images drawn (seeded) from --in (smoke 64, mini 500, paper 2000)
  --steps LIST         forward-process steps t (default ${DEFAULT_STEPS.join(',')}; t* is always added)
  --t-star N           the purification step to mark (default 100)
  --diffusion-steps T  default 4000
  --schedule cosine|linear   default cosine
  --out DIR            default runs/analysis-<profile>
Runs on the CPU in JavaScript (--device and --threads do not apply).
${COMMON_HELP}`;

/** Progress on stderr, at most every 2 s, and only once the job has run for 2 s. */
function progressPrinter(quiet: boolean): (p: AssimilationProgress) => void {
  const start = performance.now();
  let last = 0;
  return (p) => {
    if (quiet) return;
    const now = performance.now();
    if (now - start < 2000 || now - last < 2000) return;
    last = now;
    const what = p.phase === 'poison' ? `poisoning${p.attack ? ` (${p.attack})` : ''}` : p.phase === 'mmd' ? 'kernel sums' : p.phase;
    console.error(`assimilation: ${what} ${(100 * p.fraction).toFixed(0)}% (${((now - start) / 1000).toFixed(0)} s)`);
  };
}

export async function analyzeCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'assimilation') {
    if (sub === undefined || sub === '--help' || sub === '-h') return console.log(ANALYZE_HELP);
    throw unknownCommand('analyze', sub, ['assimilation']);
  }
  const { flags } = parse(rest, {
    in: { type: 'string' },
    attacks: { type: 'string' },
    images: { type: 'string' },
    steps: { type: 'string' },
    't-star': { type: 'string' },
    'diffusion-steps': { type: 'string' },
    schedule: { type: 'string', check: oneOf(['cosine', 'linear']) },
    out: { type: 'string' },
  }, 0);
  if (flags.help) return console.log(ANALYZE_HELP);
  const profile = profileOf(flags);
  const seed = int(flags, 'seed') ?? 0;
  const quiet = flags.quiet === true;

  const attacks = (str(flags, 'attacks') ?? ATTACK_NAMES.join(',')).split(',').map((a) => a.trim()).filter(Boolean);
  if (attacks.length === 0) throw new UsageError('--attacks needs at least one attack');
  for (const a of attacks) if (!isAttackName(a) || !ATTACK_NAMES.includes(a)) throw new UsageError(`--attacks: unknown attack "${a}"${suggest(a, ATTACK_NAMES)}: choose from ${ATTACK_NAMES.join(', ')}`);
  if (new Set(attacks).size !== attacks.length) throw new UsageError(`--attacks lists an attack twice: ${attacks.join(',')}`);
  const T = int(flags, 'diffusion-steps') ?? 4000; // ranges: FLAG_RANGES, checked as the flags are parsed
  const tStar = int(flags, 't-star') ?? 100;
  if (tStar > T) throw new UsageError(`--t-star must be in [1, ${T}] (the diffusion steps T), got ${tStar}`);
  const steps = numList(flags, 'steps') ?? DEFAULT_STEPS.filter((t) => t <= T);
  for (const t of steps) if (t > T) throw new UsageError(`--steps: ${t} is above the diffusion steps T = ${T}`);
  const schedule = str(flags, 'schedule') ?? 'cosine';
  const n = int(flags, 'images') ?? IMAGES[profile];

  const inFile = str(flags, 'in');
  const file = inFile ?? join(defaultDataDir(profile), 'train.safetensors');
  if (!existsSync(file)) {
    if (inFile) throw new UsageError(`--in ${file}: no such file; give a dataset (.safetensors from eclipse data import or eclipse poison)`);
    throw new UsageError(`${file} not found: run eclipse data import --profile ${profile} first, or pass --in FILE`);
  }
  const clean = await loadDataset(file);
  if (n > clean.n) throw new UsageError(`--images ${n}: ${file} holds only ${clean.n} images`);
  const out = str(flags, 'out') ?? join('runs', `analysis-${profile}`);

  const result = assimilation(clean, attacks, {
    steps,
    n,
    seed,
    T,
    schedule: schedule as NoiseScheduleName,
    tStar,
    onProgress: progressPrinter(quiet),
  });
  const files = await writeAssimilation(result, out);
  console.log(assimilationTable(result));
  console.log(`${n} images of ${file}, ${result.seconds.toFixed(1)} s; wrote ${files.json}, ${files.csv}, ${files.svg}, ${files.png}`);
}
