// The bad-input suite: every command fed bad input (missing, empty, truncated, wrong type, wrong
// shape, out-of-range or negative numbers, paths outside their folder, outputs that exist). Each
// row must exit non-zero with one line naming the problem and the fix, leave its folder exactly
// as it was (nothing written, nothing changed), and stay within its memory bound. The rows live
// in test/bad-input/<command>.ts; a new command is not done until it has its rows there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { COMMANDS as CLI_COMMANDS } from '../src/cli/main.js';
import type { BadInputRow } from './bad-input/types.js';
import { makeTempDir } from './helpers/tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = join(root, 'bin', 'eclipse.js');
const preload = pathToFileURL(join(here, 'helpers', 'maxrss.js')).href;

/** Every command the CLI has needs a rows file: a command added to main.ts fails here until it has them. */
const COMMANDS = Object.keys(CLI_COMMANDS);
const ROW_FILES: Record<string, string> = { worker: 'queue' };

/** path -> sha256 of every file under dir (folders as "dir/"). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${relative(dir, p)}/`, '');
        walk(p);
      } else out.set(relative(dir, p), e.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : `link ${statSync(p, { throwIfNoEntry: false })?.size ?? ''}`);
    }
  };
  walk(dir);
  return out;
}

interface Ran {
  code: number | null;
  out: string;
  err: string;
  maxRssMb: number | null;
}

function runRow(row: BadInputRow, dir: string, rssFile: string): Promise<Ran> {
  return new Promise((resolve) => {
    const env = { ...process.env, ECLIPSE_CIFAR10: '', ECLIPSE_QUIET_NODE_WARNING: '1', ECLIPSE_MAXRSS_FILE: rssFile, ...(row.env ?? {}) };
    const p = spawn(process.execPath, ['--import', preload, bin, ...row.args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    // a bad input must fail fast: a row still running after a minute is a hang
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      const kib = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : NaN;
      resolve({ code, out, err, maxRssMb: Number.isFinite(kib) ? kib / 1024 : null });
    });
  });
}

// About 300 processes, a few minutes: run once per CI (step 1), not again under heap checks.
const skipLong = process.env.ECLIPSE_TEST_SKIP_LONG ? 'the bad-input rows run once per CI (step 1), not again under heap checks (ECLIPSE_TEST_SKIP_LONG)' : false;

const files = COMMANDS.map((c) => ROW_FILES[c] ?? c).filter((c, i, all) => all.indexOf(c) === i);

test('every command has its bad-input rows', () => {
  const missing = files.filter((c) => !existsSync(join(here, 'bad-input', `${c}.js`)));
  assert.deepEqual(missing, [], `commands without rows in test/bad-input/: ${missing.join(', ')}`);
});

for (const file of files) {
  const path = join(here, 'bad-input', `${file}.js`);
  if (!existsSync(path)) continue;
  const { rows } = (await import(pathToFileURL(path).href)) as { rows: BadInputRow[] };
  // two rows at a time: each is a short process that mostly waits on loading libtorch
  test(`bad input: ${file} (${rows.length} rows)`, { concurrency: 2, skip: skipLong }, async (t) => {
    assert.ok(rows.length > 0, `${file} has no rows`);
    await Promise.all(rows.map((row) =>
      t.test(`eclipse ${row.args.join(' ')} (${row.name})`, async () => {
        const tmp = makeTempDir('eclipse-bad-');
        const aside = makeTempDir('eclipse-rss-');
        try {
          await row.setup?.({ dir: tmp.dir });
          const before = snapshot(tmp.dir);
          const r = await runRow(row, tmp.dir, join(aside.dir, 'maxrss'));
          const said = `stderr:\n${r.err}\nstdout:\n${r.out}`;
          assert.notEqual(r.code, 0, `exits non-zero\n${said}`);
          assert.notEqual(r.code, null, `ends by itself (killed after 60 s)\n${said}`);
          if (row.code !== undefined) assert.equal(r.code, row.code, `exit code\n${said}`);
          const cmd = row.args[0]!;
          const lines = r.err.split('\n').filter((l) => l.startsWith(`eclipse ${cmd}:`) || l.startsWith('eclipse:'));
          assert.equal(lines.length, 1, `one error line\n${said}`);
          assert.match(lines[0]!, row.error, `the error names the problem and the fix\n${said}`);
          assert.doesNotMatch(r.err, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace\n${said}`);
          const after = snapshot(tmp.dir);
          const may = new Set(row.mayWrite ?? []);
          const changed = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p) && !may.has(p.replace(/\/$/, '')));
          assert.deepEqual(changed, [], `nothing written or changed in the folder\n${said}`);
          if (row.maxRssMb !== undefined) {
            assert.ok(r.maxRssMb !== null, 'peak memory was measured');
            assert.ok(r.maxRssMb <= row.maxRssMb, `peak memory ${r.maxRssMb.toFixed(0)} MB, bound ${row.maxRssMb} MB`);
          }
        } finally {
          tmp.cleanup();
          aside.cleanup();
        }
      }),
    ));
  });
}
