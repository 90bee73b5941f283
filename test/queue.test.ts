// The distributed queue (issue 12): Redis started here on a loopback port, workers and the
// coordinator as processes. A matrix on three workers survives a worker killed mid-cell and a
// Redis restart with every cell recorded once and the same results as a local run; a
// purification split over two workers is byte-identical to the local one; bad jobs, paths
// outside the store, damaged artifacts and an unreachable Redis are refused clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { saveDataset } from '../src/data/store.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const tmp = makeTempDir('eclipse-queue-');
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const env = { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1', ECLIPSE_QUEUE_BACKOFF_MS: '500' };
const [major] = process.versions.node.split('.').map(Number);
const redisServer = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
// CI installs Redis (scripts/setup.sh); elsewhere the end-to-end tests say why they skip.
const noRedis = redisServer ? null : process.env.CI ? null : 'redis-server is not installed (scripts/setup.sh installs it)';
const skip = noRedis ?? (major! < 22 ? `node:sqlite needs Node.js 22+ (this is ${process.version})` : false);

const children: ChildProcess[] = [];
test.after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

interface Proc {
  p: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
  /** resolves when the output matches */
  when: (re: RegExp, timeoutMs?: number) => Promise<void>;
}
function run(args: string[], extraEnv: Record<string, string> = {}): Proc {
  const p = spawn(process.execPath, [bin, ...args], { cwd: tmp.dir, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  let text = '';
  const waiters: { re: RegExp; res: () => void }[] = [];
  const feed = (d: Buffer): void => {
    text += d.toString();
    for (const w of [...waiters]) if (w.re.test(text)) (waiters.splice(waiters.indexOf(w), 1), w.res());
  };
  p.stdout!.on('data', feed);
  p.stderr!.on('data', feed);
  const exit = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  return {
    p,
    out: () => text,
    exit,
    when: (re, timeoutMs = 120_000) =>
      new Promise((res, rej) => {
        if (re.test(text)) return res();
        const t = setTimeout(() => rej(new Error(`timed out waiting for ${re} in:\n${text.slice(-3000)}`)), timeoutMs);
        waiters.push({ re, res: () => (clearTimeout(t), res()) });
      }),
  };
}

const PASSWORD = 'q-test-secret';
let port = 0;
let redis: ChildProcess | null = null;
/** Redis on a loopback port, with a password and no persistence (a restart loses every job). */
async function startRedis(): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    port ||= 20000 + Math.floor(Math.random() * 20000);
    const dir = join(tmp.dir, 'redis');
    mkdirSync(dir, { recursive: true });
    const p = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    const ok = await new Promise<boolean>((res) => {
      let text = '';
      p.stdout!.on('data', (d) => {
        text += d;
        if (/Ready to accept connections/.test(text)) res(true);
      });
      p.on('close', () => res(false));
      setTimeout(() => res(false), 10_000);
    });
    if (ok) {
      redis = p;
      return;
    }
    p.kill('SIGKILL');
    if (attempt > 0 || redis === null) port = 0; // first start: try another port; a restart keeps it
  }
  throw new Error('could not start redis-server');
}
/** Each test its own Redis database, so one test's workers never take another's jobs. */
const url = (db = 0): string => `redis://:${PASSWORD}@127.0.0.1:${port}/${db}`;

async function dataFiles(): Promise<{ train: string; test: string; pool: string }> {
  const dir = join(tmp.dir, 'data');
  mkdirSync(dir, { recursive: true });
  const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const f = { train: join(dir, 'train.safetensors'), test: join(dir, 'test.safetensors'), pool: join(dir, 'pool.safetensors') };
  await saveDataset(syntheticDataset({ classes, perClass: 6, seed: 1 }), f.train);
  await saveDataset(syntheticDataset({ classes, perClass: 2, seed: 2 }), f.test);
  await saveDataset(syntheticDataset({ classes, perClass: 3, seed: 3 }), f.pool);
  return f;
}

test('jobs are data: malformed jobs, paths outside the store and damaged artifacts are refused', async () => {
  const { validateJob } = await import('../src/queue/jobs.js');
  const { ArtifactStore } = await import('../src/queue/store.js');
  const store = await ArtifactStore.init(join(tmp.dir, 'unit-store'));
  const id = store.id;
  assert.throws(() => validateJob({ kind: 'shell', store: id }), /unknown job kind "shell"/);
  assert.throws(() => validateJob({ kind: 'noop', store: id, cmd: 'rm -rf /' }), /unknown field\(s\) cmd/);
  assert.throws(() => validateJob({ kind: 'purify-shard', store: id, input: '../../etc/passwd', checkpoint: 'x', recipe: {}, seed: 0, shard: 0 }), /job.input must be a sha256/);
  const spec = { profile: 'smoke', attack: 'urp', defense: 'none', architecture: 'resnet18', seed: 0, options: {} };
  const { resolveCell } = await import('../src/matrix/config.js');
  const hash = resolveCell(spec as never).hash;
  assert.equal(validateJob({ kind: 'cell', store: id, hash, spec, cleanTwin: null, data: null }).cell!.hash, hash);
  assert.throws(() => validateJob({ kind: 'cell', store: id, hash: '0123456789abcdef', spec, cleanTwin: null, data: null }), /resolves to cell .* not 0123456789abcdef/);
  assert.throws(() => validateJob({ kind: 'cell', store: id, hash, spec: { ...spec, attack: 'emm' }, cleanTwin: null, data: null }), /unknown attack "emm" \(did you mean em\?\)/);
  assert.throws(() => validateJob({ kind: 'cell', store: id, hash, spec: { ...spec, poisonFile: '/etc/passwd' }, cleanTwin: null, data: null }), /unknown field\(s\) poisonFile/);
  // paths: relative, inside, no links out
  assert.throws(() => store.resolve('/etc/passwd'), /relative to the artifact store/);
  assert.throws(() => store.resolve('../outside'), /outside the artifact store/);
  symlinkSync(tmp.dir, join(store.root, 'link-out'));
  assert.throws(() => store.resolve('link-out/x'), /resolves outside the artifact store/);
  assert.equal(store.resolve('artifacts/a'), join(store.root, 'artifacts/a'));
  // content addressing: verified on read; a damaged file is moved aside and reported
  const f = join(tmp.dir, 'blob.bin');
  writeFileSync(f, 'some bytes');
  const sha = await store.putFile(f);
  assert.equal(await store.putFile(f), sha, 'stored once');
  assert.equal(readFileSync(await store.verified(sha), 'utf8'), 'some bytes');
  writeFileSync(store.casPath(sha), 'other bytes');
  await assert.rejects(store.verified(sha), /damaged \(its sha256 differs\): moved to/);
  await assert.rejects(store.verified(sha), /is not in the store/);
  await assert.rejects(ArtifactStore.open(join(tmp.dir, 'no-store')), /not an eclipse artifact store .* mounted on this machine/);
});

test('stages shared by processes: built once under the lock; an output changed on disk is rebuilt', async () => {
  const dir = join(tmp.dir, 'stage');
  mkdirSync(dir, { recursive: true });
  const stageJs = join(import.meta.dirname, '..', 'src', 'io', 'stage.js');
  // each process: the same stage, whose work takes a second and counts itself
  const script = `const { stage } = await import(${JSON.stringify(stageJs)});
const fs = await import('node:fs');
const out = ${JSON.stringify(join(dir, 'out.txt'))};
await stage(${JSON.stringify(dir)}, 'shared', { k: 1 }, async () => {
  fs.appendFileSync(${JSON.stringify(join(dir, 'runs.txt'))}, 'x');
  await new Promise((r) => setTimeout(r, 1000));
  fs.writeFileSync(out, 'result');
}, (m) => console.error(m), [out]);`;
  const go = (): Promise<string> =>
    new Promise((res) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d) => (err += d));
      p.on('close', () => res(err));
    });
  const logs = await Promise.all([go(), go(), go()]);
  assert.equal(readFileSync(join(dir, 'runs.txt'), 'utf8'), 'x', `built once: ${logs.join(' | ')}`);
  assert.ok(logs.some((l) => /being built by .* waiting for it/.test(l)));
  assert.equal(logs.filter((l) => /up to date, skipped/.test(l)).length, 2);
  writeFileSync(join(dir, 'out.txt'), 'tampered');
  const again = await go();
  assert.match(again, /changed on disk since the stage wrote it \(sha256 differs\): rebuilding/);
  assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), 'result');
  assert.equal(readFileSync(join(dir, 'runs.txt'), 'utf8'), 'xx');
  // a lock left by a process that died is taken over at once on this host
  writeFileSync(join(dir, '.stage-shared.lock'), JSON.stringify({ host: (await import('node:os')).hostname(), pid: 2 ** 22 + 7, since: 'then' }));
  writeFileSync(join(dir, 'out.txt'), 'tampered again');
  assert.match(await go(), /rebuilding/);
  assert.equal(readFileSync(join(dir, 'runs.txt'), 'utf8'), 'xxx');
});

test('clear errors: Redis unreachable, a wrong password, TLS without its CA, a worker without the shared store', { skip }, async () => {
  const r = spawnSync(process.execPath, [bin, 'queue', 'status', '--queue', 'redis://127.0.0.1:1'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*start it/);
  await startRedis();
  const w = spawnSync(process.execPath, [bin, 'queue', 'status', '--queue', `redis://:wrong@127.0.0.1:${port}`], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(w.status, 1);
  assert.match(w.stderr, /refused the password/);
  assert.doesNotMatch(w.stderr, /wrong/, 'the password is not printed');
  // TLS (rediss://): refused without the server's CA, working with it
  if (spawnSync('sh', ['-c', 'command -v openssl']).status === 0) {
    const d = join(tmp.dir, 'tls');
    mkdirSync(d, { recursive: true });
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'key.pem'), '-out', join(d, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const tlsPort = port + 1;
    const tls = spawn(redisServer, ['--port', '0', '--tls-port', String(tlsPort), '--bind', '127.0.0.1', '--tls-cert-file', join(d, 'cert.pem'), '--tls-key-file', join(d, 'key.pem'), '--tls-ca-cert-file', join(d, 'cert.pem'), '--tls-auth-clients', 'no', '--requirepass', PASSWORD, '--save', '', '--dir', d], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(tls);
    await new Promise<void>((res) => {
      let text = '';
      tls.stdout!.on('data', (x) => ((text += x), /Ready to accept/.test(text) && res()));
      setTimeout(res, 5000);
    });
    const tlsUrl = `rediss://:${PASSWORD}@127.0.0.1:${tlsPort}`;
    const untrusted = spawnSync(process.execPath, [bin, 'queue', 'status', '--queue', tlsUrl], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(untrusted.status, 1);
    assert.match(untrusted.stderr, /TLS with Redis .* failed .*NODE_EXTRA_CA_CERTS/);
    const trusted = spawnSync(process.execPath, [bin, 'queue', 'status', '--queue', tlsUrl], { env: { ...env, NODE_EXTRA_CA_CERTS: join(d, 'cert.pem') }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.match(trusted.stdout, /jobs: 0 waiting/);
    tls.kill('SIGKILL');
  }
  const nostore = spawnSync(process.execPath, [bin, 'worker', '--queue', url(), '--store', join(tmp.dir, 'missing-store')], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(nostore.status, 1);
  assert.match(nostore.stderr, /not an eclipse artifact store/);
});

test('a matrix on three workers: one killed mid-cell and Redis restarted, every cell once, results equal to a local run', { skip }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  if (!redis) await startRedis();
  const data = await dataFiles();
  const config = join(tmp.dir, 'q.json');
  writeFileSync(config, JSON.stringify({ name: 'q', profile: 'smoke', data, options: { epochs: 3, width: 4 }, groups: [{ attacks: ['urp', 'lsp', 'ar'], defenses: ['none', 'iss-g'] }, { attacks: ['urp'], defenses: ['eclipse'] }] }));
  const local = run(['matrix', 'run', config, '--db', join(tmp.dir, 'local.sqlite'), '--threads', '1', '--device', 'cpu', '--quiet']);
  const store = join(tmp.dir, 'store');
  const { ArtifactStore } = await import('../src/queue/store.js');
  await ArtifactStore.init(store); // workers only open a store, never make one
  const workers = ['w1', 'w2', 'w3'].map((name) => run(['worker', '--queue', url(), '--store', store, '--name', name, '--threads', '1', '--device', 'cpu', '--lock-seconds', '3']));
  const coord = run(['matrix', 'run', config, '--db', join(tmp.dir, 'queue.sqlite'), '--queue', url(), '--store', store, '--quiet']);
  // a second coordinator of the same matrix is refused while the first runs
  await coord.when(/queued on/);
  const second = run(['matrix', 'run', config, '--db', join(tmp.dir, 'queue.sqlite'), '--queue', url(), '--store', store, '--quiet']);
  assert.equal(await second.exit, 1);
  assert.match(second.out(), /already coordinated on this queue by .*"pid"/);
  // kill w1 as soon as it is inside a cell
  await workers[0]!.when(/job [0-9a-f]{16} \(cell\) started/);
  const killedJob = /job ([0-9a-f]{16}) \(cell\) started/.exec(workers[0]!.out())![1]!;
  workers[0]!.p.kill('SIGKILL');
  // status while it runs: the running jobs with the workers that hold them
  const live = spawnSync(process.execPath, [bin, 'queue', 'status', '--queue', url(), '--json'], { env, encoding: 'utf8', timeout: 30_000 });
  const ls = JSON.parse(live.stdout) as { active: { worker: string; kind: string }[]; workers: { name: string }[] };
  assert.ok(ls.active.length >= 1 && ls.active.every((a) => ['w1', 'w2', 'w3'].includes(a.worker) && a.kind === 'cell'), live.stdout);
  assert.ok(ls.workers.length >= 2, live.stdout);

  // restart Redis (no persistence: every queued job is lost) once a few cells are recorded
  await coord.when(/(test accuracy[^]*){3}/);
  redis!.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 1000));
  await startRedis();
  assert.equal(await coord.exit, 0, coord.out());
  assert.match(coord.out(), /gone from Redis .* adding it again/);
  assert.doesNotMatch(workers[0]!.out(), new RegExp(`job ${killedJob} done`), 'w1 was killed inside its cell');
  assert.ok(workers.slice(1).some((w) => w.out().includes(`job ${killedJob} (cell) started`)), 'another worker took the killed cell over');
  assert.equal(await local.exit, 0, local.out());
  const q = ResultsDb.open(join(tmp.dir, 'queue.sqlite'));
  const l = ResultsDb.open(join(tmp.dir, 'local.sqlite'));
  const qr = q.results();
  const lr = new Map(l.results().map((r) => [r.hash, r]));
  assert.equal(qr.length, 10, '3 attacks x 2 defences + URP x ECLIPSE + 3 clean twins');
  for (const r of qr) {
    assert.equal(q.resultCount(r.hash), 1, `${r.label}: one result`);
    assert.equal(r.test_acc, lr.get(r.hash)!.test_acc, `${r.label}: the same accuracy as the local run`);
  }
  q.close();
  l.close();
  // status: the two live workers, nothing left
  const st = spawnSync(process.execPath, [bin, 'queue', 'status', '--queue', url(), '--json'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(st.status, 0, st.stderr);
  const s = JSON.parse(st.stdout) as { counts: Record<string, number>; workers: { name: string }[]; meanSeconds: Record<string, number>; etaSeconds: number | null };
  assert.equal((s.counts.waiting ?? 0) + (s.counts.active ?? 0), 0);
  assert.deepEqual(s.workers.map((w) => w.name).sort(), ['w2', 'w3']);
  assert.ok((s.meanSeconds.cell ?? 0) > 0 && s.etaSeconds === 0);
  for (const w of workers.slice(1)) w.p.kill('SIGTERM');
  for (const w of workers.slice(1)) assert.equal(await w.exit, 0, w.out());
});

test('purification split over two workers is byte-identical to the local run', { skip }, async () => {
  if (!redis) await startRedis();
  const data = await dataFiles();
  const den = run(['denoiser', 'train', '--profile', 'smoke', '--pool', data.pool, '--train', data.train, '--out', join(tmp.dir, 'den'), '--threads', '1', '--quiet']);
  assert.equal(await den.exit, 0, den.out());
  const ckpt = join(tmp.dir, 'den', 'denoiser.safetensors');
  const common = ['purify', '--profile', 'smoke', '--checkpoint', ckpt, '--in', data.train, '--shard-size', '16', '--seed', '3', '--threads', '1', '--quiet'];
  const local = run([...common, '--out', join(tmp.dir, 'local-purified.safetensors')]);
  assert.equal(await local.exit, 0, local.out());
  const store = join(tmp.dir, 'store-p');
  const { ArtifactStore } = await import('../src/queue/store.js');
  await ArtifactStore.init(store);
  const init = run([...common, '--out', join(tmp.dir, 'q-purified.safetensors'), '--queue', url(1), '--store', store]);
  const workers = ['p1', 'p2'].map((name) => run(['worker', '--queue', url(1), '--store', store, '--name', name, '--threads', '1', '--device', 'cpu']));
  assert.equal(await init.exit, 0, init.out());
  assert.match(init.out(), /purified 60 images in 4 shard job\(s\)/);
  assert.ok(Buffer.compare(readFileSync(join(tmp.dir, 'local-purified.safetensors')), readFileSync(join(tmp.dir, 'q-purified.safetensors'))) === 0, 'byte-identical');
  assert.ok(workers.every((w) => /job purify-[0-9a-f]+ \(purify-shard\) started/.test(w.out())), 'both workers took shards');
  // again: every shard is found in the store, nothing recomputed
  const again = run([...common, '--out', join(tmp.dir, 'q-purified-2.safetensors'), '--queue', url(1), '--store', store]);
  assert.equal(await again.exit, 0, again.out());
  assert.match(again.out(), /\(4 already in the store\)/);
  for (const w of workers) w.p.kill('SIGTERM');
  for (const w of workers) await w.exit;
});
