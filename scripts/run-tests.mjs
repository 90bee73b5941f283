#!/usr/bin/env node
// Runs the compiled test files one process each, so that a crash or a hang in one file is
// reported with its name and the others still run.
//   node scripts/run-tests.mjs [--heap-checks] [--memcheck] [--node PATH] [--jobs N] [--dir DIR] [NAME ...]
// NAME selects dist/test/NAME.test.js (default: every file; --dir DIR: DIR/*.test.js).
//   --heap-checks  glibc's malloc checks: libc_malloc_debug with MALLOC_CHECK_=3 (a corrupted
//                  heap aborts at the next free) and MALLOC_PERTURB_ (freed and fresh memory is
//                  filled with a pattern, so reads of it give wrong numbers instead of luck)
//   --memcheck     every file under valgrind memcheck (test/valgrind.supp lists the third-party
//                  reports it ignores, each with its reason); any error fails the file
//   --node PATH    the Node.js binary to run (default: this one)
//   --jobs N       files run at once (default ECLIPSE_TEST_JOBS, else 2 where there are 2 cores or
//                  more). Much of the suite is single-threaded (libtorch's generic BLAS, JavaScript,
//                  process start-up; valgrind runs a process's threads one at a time), so two files
//                  at once use a 2-core machine; each file's output is printed whole when it ends,
//                  longest files start first (the durations of the last run, kept in
//                  DIR/.durations.json).
// Hangs: each test has ECLIPSE_TEST_TIMEOUT_S (default 600 s, test/helpers/limits.ts; x20 under memcheck) enforced by a
// watchdog thread (test/helpers/watchdog.ts), and each file a wall-clock limit of
// ECLIPSE_TEST_FILE_TIMEOUT_S (default 900 s; x20 under memcheck).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
};
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
};
const heapChecks = flag('--heap-checks');
const dirOption = option('--dir');
const memcheck = flag('--memcheck');
const nodeBin = option('--node') ?? process.execPath;
const jobsOption = option('--jobs') ?? process.env.ECLIPSE_TEST_JOBS;
// --dir: another folder of compiled test files (the runner's own tests use a fixture folder)
const testDir = dirOption ? resolve(dirOption) : join(root, 'dist', 'test');
const watchdog = join(root, 'dist', 'test', 'helpers', 'watchdog.js');
if (!existsSync(testDir)) {
  console.error('run-tests: dist/test is missing: run `npm run setup` first');
  process.exit(2);
}
const limitsJs = join(root, 'dist', 'test', 'helpers', 'limits.js');
if (!existsSync(limitsJs)) {
  console.error('run-tests: dist/test/helpers is missing: run `npm run setup` first');
  process.exit(2);
}
// the default limits are declared once, in test/helpers/limits.ts
const { DEFAULT_TEST_TIMEOUT_S, DEFAULT_FILE_TIMEOUT_S } = await import(pathToFileURL(limitsJs).href);
const all = readdirSync(testDir).filter((f) => f.endsWith('.test.js')).sort();
const files = args.length === 0 ? all : args.map((a) => `${a.replace(/\.test\.(js|ts)$/, '')}.test.js`);
for (const f of files) {
  if (!all.includes(f)) {
    console.error(`run-tests: no test file ${join(testDir, f)} (have: ${all.join(', ')})`);
    process.exit(2);
  }
}

const jobs = jobsOption !== undefined ? Number(jobsOption) : Math.min(2, availableParallelism());
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`run-tests: --jobs must be a whole number of at least 1, got ${jobsOption}`);
  process.exit(2);
}
const slow = memcheck ? 20 : 1;
const testLimitS = Number(process.env.ECLIPSE_TEST_TIMEOUT_S ?? DEFAULT_TEST_TIMEOUT_S) * slow;
const fileLimitS = Number(process.env.ECLIPSE_TEST_FILE_TIMEOUT_S ?? DEFAULT_FILE_TIMEOUT_S) * slow;
const env = { ...process.env, ECLIPSE_TEST_TIMEOUT_S: String(testLimitS) };
if (heapChecks) {
  // Since glibc 2.34 MALLOC_CHECK_ only takes effect with the debug library preloaded.
  const debugLib = ['/lib/x86_64-linux-gnu/libc_malloc_debug.so.0', '/usr/lib64/libc_malloc_debug.so.0', '/lib64/libc_malloc_debug.so.0'].find(existsSync);
  if (debugLib) env.LD_PRELOAD = [debugLib, env.LD_PRELOAD].filter(Boolean).join(':');
  else console.error('run-tests: no libc_malloc_debug.so.0 on this machine: MALLOC_CHECK_ has no effect, MALLOC_PERTURB_ still does');
  env.MALLOC_CHECK_ = '3';
  env.MALLOC_PERTURB_ = '165';
}
// Two files on two cores: OpenMP threads that spin while they wait would take the other file's core.
if (jobs > 1) env.OMP_WAIT_POLICY ??= 'PASSIVE';

let valgrindLogs = null;
function command(file) {
  const nodeArgs = ['--import', watchdog, '--test-reporter=spec', `--test-timeout=${testLimitS * 1000}`, join(testDir, file)];
  if (!memcheck) return [nodeBin, nodeArgs];
  const supp = join(root, 'test', 'valgrind.supp');
  return [
    'valgrind',
    ['--tool=memcheck', '--error-exitcode=99', '--leak-check=no', '--num-callers=30', `--suppressions=${supp}`, `--log-file=${join(valgrindLogs, `${file}.%p.log`)}`, nodeBin, ...nodeArgs],
  ];
}

if (memcheck) {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('run-tests: --memcheck needs valgrind (Debian: apt-get install valgrind)');
    process.exit(2);
  }
  valgrindLogs = mkdtempSync(join(tmpdir(), 'eclipse-memcheck-'));
  // Under valgrind OpenMP's spinning threads only slow the serialised run down, and the
  // real-CIFAR tests spend tens of minutes decompressing the archive (see test/helpers/tmp.ts).
  env.OMP_WAIT_POLICY = 'PASSIVE';
  env.ECLIPSE_TEST_NO_REAL_DATA = '1';
  // Probe: load the engine under valgrind once (one op: the addon loads on first use). Valgrind 3.19 announces instructions to programs
  // that some (virtual) CPUs lack (seen: rdtscp on an AMD EPYC VM, executed by libhwy, a libtorch
  // dependency, while it loads); nothing can be checked there, so say so plainly and skip, unless
  // ECLIPSE_MEMCHECK_STRICT=1 makes that a failure.
  const probe = spawnSync('valgrind', ['--tool=memcheck', '-q', nodeBin, '-e', "import('./dist/src/engine/index.js').then((m) => m.F.zeros([1]).dispose())"], { cwd: root, env, encoding: 'utf8', timeout: 300_000 });
  if (probe.signal === 'SIGILL' || /Illegal opcode/.test(probe.stderr ?? '')) {
    const where = /Illegal opcode at address \S+\n\S*\s+at \S+: (.*)/.exec(probe.stderr ?? '')?.[1] ?? 'unknown place';
    console.error(`run-tests: valgrind cannot run eclipse's engine on this CPU: illegal instruction while loading, in ${where} (a third-party library; native runs are unaffected). Memcheck is not possible on this machine${process.env.ECLIPSE_MEMCHECK_STRICT === '1' ? '' : ': SKIPPED (ECLIPSE_MEMCHECK_STRICT=1 makes this a failure)'}.`);
    process.exit(process.env.ECLIPSE_MEMCHECK_STRICT === '1' ? 1 : 0);
  }
}

// A test process that dies from a signal leaves a core file (the limit is raised for it alone);
// its threads' stacks are printed, so a crash seen once on some machine says where it was.
const crashSignals = new Set(['SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGILL', 'SIGFPE']);
function printCrashStacks(file, pid) {
  const core = [join(root, `core.${pid}`), join(root, 'core')].find(existsSync);
  if (!core) {
    let pattern = '?';
    try {
      pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
    } catch {}
    console.error(`run-tests: ${file} left no core file in ${root} (kernel.core_pattern is "${pattern}"; a hard core-size limit of 0 also stops it); no stacks to print`);
    return;
  }
  const gdb = spawnSync('gdb', ['-batch', '-nx', '-ex', 'bt 30', '-ex', 'thread apply all bt 12', nodeBin, core], { encoding: 'utf8', timeout: 120_000 });
  if (gdb.error) console.error(`run-tests: ${file} crashed; its core is ${core} (no gdb to read it: ${gdb.error.message})`);
  else {
    // the faulting thread in full, then the other threads that were not idle
    const [faulting, ...threads] = gdb.stdout.split(/\n(?=Thread )/);
    const busy = threads.filter((b) => b.startsWith('Thread ') && !/^#[0-2] .*(futex|epoll_pwait|sem_wait|pthread_cond|uv_cond_wait|do_futex_wait)/m.test(b));
    const lines = (b) => b.split('\n').filter((l) => /^(Thread|#|Program terminated)/.test(l)).join('\n');
    console.error(`run-tests: ${file} crashed; the stacks from its core file (gdb):\n${lines(faulting)}\n${busy.map(lines).join('\n')}\n(${threads.length - busy.length} idle threads left out)`);
    rmSync(core, { force: true });
  }
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const [bin, binArgs] = command(file);
    // `ulimit -c` in a shell that then execs the test: only this process may dump core
    const [cmd, cmdArgs] = memcheck ? [bin, binArgs] : ['/bin/sh', ['-c', 'ulimit -c unlimited 2>/dev/null; exec "$@"', 'sh', bin, ...binArgs]];
    // one file at a time prints as it goes; several keep each file's output and print it whole
    const child = spawn(cmd, cmdArgs, { cwd: root, env, stdio: jobs === 1 ? 'inherit' : ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks = [];
    child.stdout?.on('data', (d) => chunks.push(d));
    child.stderr?.on('data', (d) => chunks.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      chunks.push(Buffer.from(`\nrun-tests: ${file} passed its ${fileLimitS} s limit (ECLIPSE_TEST_FILE_TIMEOUT_S): killing it\n`));
      if (jobs === 1) process.stderr.write(chunks.pop());
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, fileLimitS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      if (jobs > 1) process.stdout.write(`\n── ${file} (${seconds.toFixed(1)} s) ──\n${Buffer.concat(chunks).toString('utf8')}`);
      if (crashSignals.has(signal)) printCrashStacks(file, child.pid);
      resolve({ file, code, signal, timedOut, seconds });
    });
  });
}

const version = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' }).stdout.trim();
const mode = [memcheck && 'valgrind memcheck', heapChecks && 'glibc heap checks'].filter(Boolean).join(', ') || 'plain';
console.log(`run-tests: ${files.length} files on Node ${version} (${mode}), ${jobs} at once; per-test limit ${testLimitS} s, per-file ${fileLimitS} s`);
// Longest first, by the last run's durations (alphabetical where there are none), so that no long
// file starts last while the other worker sits idle.
const durationsFile = join(testDir, '.durations.json');
let last = {};
try {
  last = JSON.parse(readFileSync(durationsFile, 'utf8'));
} catch {}
const queue = jobs === 1 ? [...files] : [...files].sort((a, b) => (last[b] ?? 0) - (last[a] ?? 0));
const results = [];
async function worker() {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const r = await runFile(file);
    if (memcheck) {
      // valgrind's verdict per process: the error summary of each log it wrote for this file
      for (const log of readdirSync(valgrindLogs).filter((l) => l.startsWith(`${file}.`))) {
        const text = readFileSync(join(valgrindLogs, log), 'utf8');
        const summary = /ERROR SUMMARY: (\d+) errors from (\d+) contexts/.exec(text);
        if (summary && summary[1] !== '0') {
          console.error(text);
          r.memErrors = Number(summary[1]);
        }
      }
    }
    results.push(r);
  }
}
const wall = Date.now();
await Promise.all(Array.from({ length: jobs }, worker));
results.sort((a, b) => a.file.localeCompare(b.file));
if (!memcheck && !heapChecks) {
  // plain runs only: heap checks and valgrind slow files unevenly
  const tmpFile = `${durationsFile}.${process.pid}.tmp`;
  writeFileSync(tmpFile, JSON.stringify({ ...last, ...Object.fromEntries(results.map((r) => [r.file, Math.round(r.seconds * 10) / 10])) }, null, 1));
  renameSync(tmpFile, durationsFile);
}
if (valgrindLogs) rmSync(valgrindLogs, { recursive: true, force: true });

const failed = results.filter((r) => r.code !== 0 || r.signal !== null || r.timedOut || r.memErrors);
console.log(`\nrun-tests: ${results.length - failed.length}/${results.length} files passed (Node ${version}, ${mode}, ${jobs} at once) in ${((Date.now() - wall) / 1000).toFixed(0)} s`);
for (const r of results) {
  const why = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : r.memErrors ? `${r.memErrors} memcheck errors` : r.code !== 0 ? `exit ${r.code}` : 'ok';
  console.log(`  ${why === 'ok' ? 'ok  ' : 'FAIL'} ${r.file.padEnd(28)} ${r.seconds.toFixed(1).padStart(7)} s  ${why === 'ok' ? '' : why}`);
}
process.exit(failed.length === 0 ? 0 : 1);
