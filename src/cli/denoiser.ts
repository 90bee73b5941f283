// eclipse denoiser train
import { join } from 'node:path';

import { loadDataset } from '../data/store.js';
import { trainDenoiser } from '../diffusion/train.js';
import { enlarge, selectSparseSet } from '../defenses/sparse.js';
import { COMMON_HELP, interruptible, parse, profileOf, str, unknownCommand } from './args.js';
import { ECLIPSE_FLAGS, ECLIPSE_HELP, dataFile, eclipseFrom } from './eclipseflags.js';
import { runtimeFrom } from './train.js';

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
  const stop = interruptible('run the same command with --resume to continue');
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
