// Digest of a run folder's outputs for before/after checks (scripts/refactor-check.sh): every
// safetensors file's tensors (names, dtypes, shapes, bytes) and its metadata without timings or paths;
// result.json test accuracy; PNG bytes.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
const root = process.argv[2];
const out = [];
const walk = (d) => { for (const e of readdirSync(d)) { const p = join(d, e); if (statSync(p).isDirectory()) walk(p); else out.push(p); } };
walk(root);
const volatile = /history|time|seconds|img_s|created|path|checkpoint$|denoiser_checkpoint|purify_key|run_key/;
for (const f of out.sort()) {
  const rel = relative(root, f);
  if (f.endsWith('.safetensors')) {
    const buf = readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const t = createHash('sha256');
    for (const k of Object.keys(header).filter((k) => k !== '__metadata__').sort()) {
      const v = header[k];
      t.update(k + v.dtype + JSON.stringify(v.shape)).update(buf.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]));
    }
    const meta = Object.fromEntries(Object.entries(header.__metadata__ ?? {}).filter(([k]) => !volatile.test(k)));
    console.log(`${rel} tensors ${t.digest('hex').slice(0, 16)} meta ${createHash('sha256').update(JSON.stringify(meta)).digest('hex').slice(0, 16)}`);
  } else if (rel.endsWith('result.json')) console.log(`${rel} test_acc ${JSON.parse(readFileSync(f, 'utf8')).testAcc}`);
  else if (f.endsWith('.png')) console.log(`${rel} sha256 ${createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16)}`);
}
