// Regression tests for heap corruption with few channels (issue 8). oneDNN's weight gradient for
// a strided 1x1 convolution on a channels-last input with fewer input channels than its channel
// block wrote past its scratchpad; the engine now runs strided 1x1 convolutions at unit stride
// on the sampled input. The AVX2 kernels had the bug and AVX-512 machines pick others, so every
// check also runs with oneDNN held to AVX2 (ONEDNN_MAX_CPU_ISA) to cover both on any machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const hasAvx2 = /\bavx2\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
const isas: (string | null)[] = hasAvx2 ? [null, 'AVX2'] : [null];
// glibc's heap checks make a corrupted chunk abort at the next free instead of much later.
const heapChecks = { MALLOC_CHECK_: '3', MALLOC_PERTURB_: '165' };

function child(script: string, args: string[], isa: string | null): { stdout: string; stderr: string; status: number | null; signal: string | null } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...heapChecks };
  if (isa) env.ONEDNN_MAX_CPU_ISA = isa;
  else delete env.ONEDNN_MAX_CPU_ISA;
  const r = spawnSync(process.execPath, [here(script), ...args], { env, encoding: 'utf8', timeout: 240_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, signal: r.signal };
}

for (const isa of isas) {
  const label = isa ? `oneDNN held to ${isa}` : 'oneDNN on this CPU';
  test(`strided 1x1 convolution gradients with 1..9 input channels, channels-last and NCHW (${label})`, () => {
    const r = child('./helpers/strided-1x1.js', [], isa);
    assert.equal(r.signal, null, `child died from ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /checked 36 cases/);
  });

  test(`ResNet-18 trains at every width 1..8, channels-last and NCHW, 1 and 2 threads, reproducibly (${label})`, () => {
    const r = child('./helpers/width-sweep.js', [], isa);
    assert.equal(r.signal, null, `child died from ${r.signal}: ${r.stderr.slice(-2000)}`);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const runs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { layout: string; threads: number; width: number; run: number; testLoss: number; trainLoss: number[] });
    assert.equal(runs.length, 2 * 2 * 8 * 2, 'every configuration ran twice');
    for (const a of runs.filter((x) => x.run === 1)) {
      const b = runs.find((x) => x.run === 2 && x.layout === a.layout && x.threads === a.threads && x.width === a.width)!;
      const what = `width ${a.width}, ${a.layout}, ${a.threads} thread(s)`;
      assert.ok(Number.isFinite(a.testLoss), `${what}: test loss ${a.testLoss}`);
      assert.equal(b.testLoss, a.testLoss, `${what}: the same seed gives the same test loss`);
      assert.deepEqual(b.trainLoss, a.trainLoss, `${what}: the same seed gives the same training losses`);
    }
  });
}
