// eclipse poison
import { join } from 'node:path';

import {
  ATTACKS, ATTACK_NAMES, isAttackName, parseBound, parseEpsilon, poisonFile, suggest,
} from '../attacks/index.js';
import { COMMON_HELP, UsageError, int, interruptible, num, oneOf, parse, profileOf, required, str } from './args.js';
import { defaultDataDir } from './data.js';
import { dataFile, log } from './eclipseflags.js';
import { overridesFrom, tableFlags, tablesHelp, type SettingTables } from './settingflags.js';
import { runtimeFrom } from './train.js';

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
Writes a dataset file with the attack, epsilon, seed and measured perturbation in its metadata, and
the poison's make-up: L2, the share of perturbation energy above half the Nyquist frequency, the
class-wise share, eclipse scan's score, and the torch thread count (src/attacks/README.md).
Model-based attacks (${ATTACK_NAMES.filter((a) => ATTACKS[a].modelBased).join(', ')}) keep resumable state in OUT.work/
(surrogate runs, generation checkpoints): Ctrl-C stops at the next checkpoint and the same command continues.
  --list               every attack with its defaults, cost and citation
  --in FILE            clean dataset (default data/cifar10-<profile>/train.safetensors)
  --out FILE           default data/cifar10-<profile>/poison-<attack>-s<seed>.safetensors
  --epsilon E          urp and model-based: L_inf (default 8/255); lsp: L2 (default sqrt(3072)*6/255); ar: L2 (default 1);
                       ops and cuda take none (a pixel set, a blur)
  --bound linf:8/255   also check this bound (repeatable: comma-separated)
  --quantization round|floor
  --patch-size N --class-sep X       (lsp)
  --crop N --ar-coefficients auto|paper|search   (ar)
  --blur-parameter B   (cuda) the filters' weights are drawn from U(0, B), B in (0, 1] (default 0.3)
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
    'blur-parameter': { type: 'string' },
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
    blurParameter: num(flags, 'blur-parameter'),
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
