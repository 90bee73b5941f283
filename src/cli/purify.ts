// eclipse purify
import { loadDataset } from '../data/store.js';
import { purifyDataset } from '../defenses/purify.js';
import { COMMON_HELP, interruptible, parse, profileOf, required, str } from './args.js';
import { ECLIPSE_FLAGS, eclipseFrom, eclipseHelp } from './eclipseflags.js';
import { runtimeFrom } from './train.js';

export const PURIFY_HELP = `eclipse purify --checkpoint FILE --in FILE --out FILE

Purify a (poisoned) dataset: diffuse every image to t* in one step and denoise it with the
checkpoint's EMA weights. Seeded; written shard by shard (re-run the command to resume).
${eclipseHelp(['purify'])}
  --overwrite               replace an OUT made from other inputs (the same inputs: reported as done)
  --queue URL --store DIR   one job per shard for eclipse worker processes (docs/queue.md); the
                            output is byte-identical to a run on one machine with the same seed
${COMMON_HELP}`;

export async function purifyCommand(argv: string[]): Promise<void> {
  const { flags } = parse(argv, { ...ECLIPSE_FLAGS, checkpoint: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, queue: { type: 'string' }, store: { type: 'string' }, overwrite: { type: 'boolean' } }, 0);
  if (flags.help) return console.log(PURIFY_HELP);
  const profile = profileOf(flags);
  const e = eclipseFrom(flags, profile);
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
