// eclipse report (issue 10 part 3): a small matrix run on synthetic data (two attacks x {none,
// eclipse}, a t* sweep, two ablations) gives a results database; the report made from it is
// loaded in a real headless Chromium, where every table, plot and image must render with a
// size, with no console error and no request leaving the page. An empty database must render too.
// Chromium: Debian's (npm run setup installs it) or $ECLIPSE_CHROMIUM; playwright-core downloads
// nothing. $ECLIPSE_REPORT_SCREENSHOT=FILE.png keeps the full-page screenshots (FILE-empty.png too).
// Issue 28 (at the end): synthetic result rows with poison and defence seeds and make-up numbers:
// mean ±sd, second-best and ≈ in Table 1, error bars, the make-up plot's r and rho, the CSV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { findChromium, noChromiumReason } from '../src/report/chromium.js';
import type { ResultRow } from '../src/matrix/db.js';
import type { PoisonMakeupNumbers, Stat } from '../src/report/results.js';
import { saveDataset } from '../src/data/store.js';
import { makeTempDir, syntheticDataset } from './helpers/tmp.js';

const tmp = makeTempDir('eclipse-report-');
test.after(() => tmp.cleanup());
const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const [major] = process.versions.node.split('.').map(Number);
const noSqlite = major! < 22 ? `node:sqlite needs Node.js 22+ (this is ${process.version}; run this file with Node 22 or 24)` : null;
const chromiumPath = findChromium();
const noChromium = chromiumPath ? null : noChromiumReason();
const skip = noSqlite ?? noChromium ?? false;
const env = { ...process.env, ECLIPSE_QUIET_NODE_WARNING: '1' };

const eclipse = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [bin, ...args], { cwd: tmp.dir, env, encoding: 'utf8', timeout: 120_000 });

/** Every file and folder under dir, with each file's sha256: what a command created or changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out[`${relative(dir, p)}/`] = 'folder';
        walk(p);
      } else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** A refused command: non-zero exit, exactly one stderr line (no stack, no raw EISDIR), nothing on stdout. */
function refused(r: { status: number | null; stdout: string; stderr: string }, error: RegExp): void {
  assert.notEqual(r.status, 0, `refused (stdout: ${r.stdout})`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, /^eclipse report: /);
  assert.match(lines[0]!, error);
  assert.equal(r.stdout, '');
}

/** A SQLite file made by another program, with node:sqlite (as eclipse uses). */
async function sqliteFile(file: string, sql: string): Promise<void> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(file);
  db.exec(sql);
  db.close();
}

async function smokeMatrix(): Promise<{ config: string; db: string }> {
  const dir = join(tmp.dir, 'data');
  mkdirSync(dir, { recursive: true });
  const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  const data = { train: join(dir, 'train.safetensors'), test: join(dir, 'test.safetensors'), pool: join(dir, 'pool.safetensors') };
  await saveDataset(syntheticDataset({ classes, perClass: 6, seed: 1 }), data.train);
  await saveDataset(syntheticDataset({ classes, perClass: 2, seed: 2 }), data.test);
  await saveDataset(syntheticDataset({ classes, perClass: 3, seed: 3 }), data.pool);
  const config = join(tmp.dir, 'report-matrix.json');
  writeFileSync(
    config,
    JSON.stringify({
      name: 'report', profile: 'smoke', data, options: { epochs: 2, width: 4 },
      groups: [
        { attacks: ['urp', 'ar'], defenses: ['none', 'eclipse'] },
        { attacks: ['urp', 'ar'], defenses: ['eclipse'], sweep: { tStar: [50, 100] } },
        { attacks: ['urp'], defenses: ['eclipse'], sweep: { ablation: ['A', 'BC'] } },
      ],
    }),
  );
  const db = join(tmp.dir, 'matrix', 'results.sqlite');
  mkdirSync(dirname(db), { recursive: true });
  const r = eclipse(['matrix', 'run', config, '--db', db, '--threads', '1', '--device', 'cpu', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ran 13, already finished 0, failed 0/);
  return { config, db };
}

interface PageCheck {
  tables: number;
  svgs: number;
  imgs: number;
  text: string;
}

/** Load a report in Chromium: every table, svg and img has a size, nothing errs, nothing is fetched. */
async function checkInBrowser(html: string, screenshot: string): Promise<PageCheck> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: ['--no-sandbox'], timeout: 60_000 });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.on('request', (r) => !/^(file|data):/.test(r.url()) && requests.push(r.url()));
    const url = pathToFileURL(html).href;
    await page.goto(url, { waitUntil: 'load' });
    const sized = async (selector: string): Promise<number> => {
      const els = await page.locator(selector).all();
      for (const [i, el] of els.entries()) {
        await el.scrollIntoViewIfNeeded();
        const box = await el.boundingBox();
        assert.ok(box && box.width > 0 && box.height > 0, `${selector} #${i} renders with a size (got ${JSON.stringify(box)})`);
      }
      return els.length;
    };
    const tables = await sized('table');
    const svgs = await sized('svg');
    const imgs = await sized('img');
    const broken = await page.evaluate(() =>
      [...document.images].filter((im) => !im.complete || im.naturalWidth === 0 || !im.src.startsWith('data:image/png;base64,')).map((im) => im.alt),
    );
    assert.deepEqual(broken, [], 'every image is a decoded data: URI');
    // plots are real Vega output: axes and marks
    const plotMarks = await page.evaluate(() => [...document.querySelectorAll('svg')].map((s) => s.querySelectorAll('path, line, circle').length));
    for (const n of plotMarks) assert.ok(n > 3, 'every plot has drawn marks');
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.deepEqual(errors, [], 'no console or page errors');
    assert.deepEqual(requests, [], 'the page fetches nothing');
    return { tables, svgs, imgs, text: await page.locator('body').innerText() };
  } finally {
    await browser.close();
  }
}

function saveScreenshot(file: string, name: string): void {
  const want = process.env.ECLIPSE_REPORT_SCREENSHOT;
  if (!want) return;
  const target = resolve(name === 'report' ? want : want.replace(/(\.png)?$/, `-${name}.png`));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}

test('report of a small matrix: tables beside the paper, sweep plot, curves and images render in Chromium', { skip, timeout: 150_000 }, async () => {
  const { config, db } = await smokeMatrix();
  // what the report reads, it must leave as it was: the database (and no file beside it), the artifacts
  const artifacts = join(dirname(db), 'artifacts');
  const read = (): { db: Record<string, string>; artifacts: Record<string, string> } => {
    const all = snapshot(dirname(db));
    return { db: Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('results.sqlite'))), artifacts: snapshot(artifacts) };
  };
  const before = read();
  assert.ok(Object.keys(before.artifacts).length > 10, 'the matrix left artifacts to read');
  // default --out: report/ beside the database; --artifacts: the matrix's default
  const r = eclipse(['report', '--db', db, '--data', config, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const out = join(dirname(db), 'report');
  for (const f of ['report.html', 'report.md', 'results.csv']) assert.ok(existsSync(join(out, f)), `${f} written`);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /<script|<link |src="http|href="http|url\(/i, 'self-contained: no script, no external resource');

  const shot = join(tmp.dir, 'report.png');
  const page = await checkInBrowser(join(out, 'report.html'), shot);
  saveScreenshot(shot, 'report');
  assert.ok(readFileSync(shot).subarray(1, 4).toString() === 'PNG', 'a PNG screenshot');
  // Table 1, 3, 4 and the cell list; a sweep plot and two curve plots; Fig. 1 and Fig. 4 strips
  assert.ok(page.tables >= 4 + 2, `tables: ${page.tables}`);
  assert.ok(page.svgs >= 3, `plots: ${page.svgs}`);
  // Fig. 1: clean + 2 x (poisoned, perturbation); Fig. 4: clean + 2 x (poisoned, noised, purified)
  assert.equal(page.imgs, 5 + 7);
  assert.match(page.text, /ECLIPSE sweep of t\* /, 'the sweep is titled with the paper\'s symbol (ECLIPSE_SETTINGS label)');
  assert.match(page.text, /Training curves: w\/o/);
  assert.match(page.text, /Training curves: ECLIPSE/);
  assert.match(page.text, /the smoke profile/);
  assert.match(page.text, /ADP excluded/);

  // Table 1: our number beside the paper's; missing attacks are dashes with the paper's number
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  const row = (name: string): string[] => md.split('\n').find((l) => l.startsWith(`| ${name} |`))!.split('|').slice(2, -1).map((s) => s.trim());
  const cols = md.split('\n').find((l) => l.startsWith('| defence | seeds |'))!.split('|').slice(2, -1).map((s) => s.trim());
  const w = row('w/o');
  assert.match(w[cols.indexOf('URP')]!, /^\d+\.\d \(16\.80\)$/);
  assert.match(w[cols.indexOf('AR')]!, /^\d+\.\d \(10\.59\)$/);
  assert.equal(w[cols.indexOf('EM')], '– (17.58)');
  assert.equal(w[cols.indexOf('seeds')], '1');
  assert.match(row('ECLIPSE')[cols.indexOf('URP')]!, /^(\*\*)?\d+\.\d(\*\*)? \(86\.98\)$/);
  // the paper's AVG beside ours averages the paper's numbers over the same attacks (URP, AR)
  assert.match(row('w/o')[cols.indexOf('AVG')]!, /\(13\.70\)$/);
  assert.match(row('Cutout')[cols.indexOf('TAP')]!, /\(29\.16†\)/, 'decoded numbers are flagged');
  assert.match(md, /decoded from the garbled text/);
  // the paper's "qualified" rule, its line rescaled by our clean accuracy; the best qualified defence per attack is bold
  const clean = Number(/\| w\/o \| (\d+\.\d) \(94\.95\)/.exec(md)?.[1]);
  const qual = /Qualified defences, by the paper's rule .*?: (\d+\.\d)% = 50 x (\d+\.\d) \/ 94\.95 \(clean accuracy without defence, ours \/ the paper's\): ([^;.]*)/.exec(md);
  assert.ok(qual, 'the qualification note');
  assert.equal(Number(qual[2]), clean);
  assert.ok(Math.abs(Number(qual[1]) - (50 * clean) / 94.95) < 0.1, `line ${qual[1]} from clean ${clean}`);
  const qualified = qual[3] === 'none' ? [] : qual[3]!.split(', ');
  const ours = (cell: string): number | null => {
    const m = /^\*{0,2}(\d+\.\d)/.exec(cell);
    return m ? Number(m[1]) : null;
  };
  let bolds = 0;
  for (const a of ['URP', 'AR']) {
    const i = cols.indexOf(a);
    const vals = qualified.map((d) => ({ d, v: ours(row(d)[i]!) })).filter((x) => x.v !== null);
    const bold = [...new Set(['w/o', 'Cutout', 'ECLIPSE', ...qualified])].filter((d) => row(d)[i]!.startsWith('**'));
    if (vals.length === 0) {
      assert.equal(bold.length, 0, `${a}: nothing bold without a qualified defence`);
      continue;
    }
    bolds++;
    assert.equal(bold.length, 1, `${a}: one bold cell (${bold})`);
    assert.ok(qualified.includes(bold[0]!), `${a}: the bold defence ${bold[0]} is qualified`);
    assert.equal(ours(row(bold[0]!)[i]!), Math.max(...vals.map((x) => x.v!)), `${a}: the bold number is the best qualified one`);
  }
  assert.ok(bolds > 0, 'some column has a best qualified defence');
  assert.match(md, /Best qualified defence per attack \(bold\): URP /);
  // Table 4 has the full defence and the two ablations that ran
  assert.match(md, /\| A\+B\+C \| \d+\.\d \| \d+\.\d \| \d+\.\d \(83\.82\) \|/);
  assert.match(md, /\| B\+C \| \d+\.\d \| – \| \d+\.\d\* \(70\.48\) \|/);
  // Table 1 uses the main cells: the t* sweep's other value is not averaged in
  assert.match(md, /ECLIPSE: swept options at ablation = ABC, tStar = 100 \(the profile's values\)/);

  // results.csv: one line per architecture x defence x attack x swept values
  const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
  assert.equal(
    csv[0],
    'architecture,defense,attack,variant,main,profile,n,seeds,test_acc_mean,test_acc_std,clean_acc_mean,paper_test_acc,paper_decoded,hashes,test_acc_min,test_acc_max,poison_seeds,defense_seeds',
  );
  assert.equal(csv.length - 1, 13, 'every cell is its own variant here');
  assert.ok(csv.some((l) => l.startsWith('resnet18,eclipse,urp,ablation=ABC tStar=50,0,smoke,1,0,')));
  assert.ok(csv.some((l) => /^resnet18,none,urp,,1,smoke,1,0,[\d.]+,0\.00,[\d.]+,16\.8,0,/.test(l)));

  // --no-images: the report to publish where the dataset's images may not go has none of them
  const pub = join(tmp.dir, 'report-no-images');
  const r2 = eclipse(['report', '--db', db, '--data', config, '--out', pub, '--no-images', '--quiet']);
  assert.equal(r2.status, 0, r2.stderr);
  const html2 = readFileSync(join(pub, 'report.html'), 'utf8');
  assert.doesNotMatch(html2, /data:image/, 'no image embedded');
  assert.match(readFileSync(join(pub, 'report.md'), 'utf8'), /Images left out when this report was made/);
  assert.equal(html2.match(/<table/g)?.length, html.match(/<table/g)!.length - 2, 'the same tables, less the grids of Fig. 1 and Fig. 4');
  for (const t of ['Table 1 (ResNet-18)', 'Table 3: clean accuracy', "Table 4 (ResNet-18): ECLIPSE's parts"]) assert.ok(html2.includes(t), t);
  assert.deepEqual(read(), before, 'two reports wrote nothing to the database or the artifacts');

  // results travel as CSV without the artifacts: merged into a database elsewhere, the training
  // curves kept with each result are still drawn
  const csvFile = join(tmp.dir, 'moved.csv');
  const db2 = join(tmp.dir, 'moved', 'results.sqlite');
  const noArtifacts = join(tmp.dir, 'moved', 'artifacts');
  mkdirSync(noArtifacts, { recursive: true });
  assert.equal(eclipse(['matrix', 'export', '--db', db, '--out', csvFile]).status, 0);
  const merged = eclipse(['matrix', 'merge', csvFile, '--db', db2]);
  assert.equal(merged.status, 0, merged.stderr);
  const moved = join(tmp.dir, 'report-moved');
  const r3 = eclipse(['report', '--db', db2, '--artifacts', noArtifacts, '--out', moved, '--no-images', '--quiet']);
  assert.equal(r3.status, 0, r3.stderr);
  const md3 = readFileSync(join(moved, 'report.md'), 'utf8');
  assert.match(md3, /Training curves: w\/o/);
  assert.match(md3, /Training curves: ECLIPSE/);
  assert.equal(readFileSync(join(moved, 'report.html'), 'utf8').match(/<svg/g)?.length, html2.match(/<svg/g)?.length, 'the same plots as with the artifacts');
});

test('an empty database renders: dashes, the paper\'s numbers, and what is missing', { skip, timeout: 60_000 }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const db = join(tmp.dir, 'empty', 'results.sqlite');
  mkdirSync(dirname(db), { recursive: true });
  ResultsDb.open(db).close();
  const out = join(tmp.dir, 'empty-report');
  const r = eclipse(['report', '--db', db, '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const shot = join(tmp.dir, 'empty.png');
  const page = await checkInBrowser(join(out, 'report.html'), shot);
  saveScreenshot(shot, 'empty');
  assert.equal(page.svgs, 0);
  assert.equal(page.imgs, 0);
  assert.ok(page.tables >= 3);
  assert.match(page.text, /no finished cell yet/);
  assert.match(page.text, /– \(82\.80\)/);
  assert.match(page.text, /Missing \(no finished cell\): attacks EM, TAP/);
  assert.equal(readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').length, 1);
  // no database at all is an error, not an empty report
  const none = eclipse(['report', '--db', join(tmp.dir, 'nope.sqlite')]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no results database at/);
  assert.ok(!existsSync(join(tmp.dir, 'nope.sqlite')), 'nothing created');
});

test("the paper's Table 1 numbers by architecture: ResNet-18's rows, VGG-19's decoded w/o and ECLIPSE, nothing invented", async () => {
  const { paperTable1Defenses, paperTestAcc, paperAverage } = await import('../src/report/paper.js');
  assert.equal(paperTable1Defenses('resnet18').length, 12, 'every row of the ResNet-18 half, undecodable ones included');
  assert.deepEqual(paperTable1Defenses('vgg19'), ['none', 'eclipse']);
  assert.deepEqual(paperTable1Defenses('densenet121'), []);
  assert.deepEqual(paperTestAcc('vgg19', 'eclipse', 'em'), { value: 80.73, decoded: true });
  assert.equal(paperTestAcc('vgg19', 'none', 'sep'), null, 'the paper runs no SEP on VGG-19');
  assert.equal(paperTestAcc('vgg19', 'iss-j', 'em'), null);
  assert.deepEqual(paperTestAcc('resnet18', 'eclipse', 'em'), { value: 82.8, decoded: false });
  // ECLIPSE's VGG-19 values reproduce the paper's printed AVG (82.08) over its eight attacks
  const eight = ['em', 'tap', 'rem', 'efp', 'urp', 'lsp', 'ar', 'adp'].map((a) => paperTestAcc('vgg19', 'eclipse', a));
  assert.equal(paperAverage(eight)!.value.toFixed(2), '82.08');
});

test('a file that is not an eclipse results database is refused in one line, and left byte for byte as it was', { skip: noSqlite ?? false, timeout: 120_000 }, async () => {
  const cases: { name: string; make: (f: string) => void | Promise<void>; error: RegExp }[] = [
    { name: 'zero-bytes', make: (f) => writeFileSync(f, ''), error: /is empty \(0 bytes\), not an eclipse results database: give the results database that eclipse matrix run wrote/ },
    { name: 'empty-sqlite', make: (f) => sqliteFile(f, 'PRAGMA user_version = 7'), error: /is not an eclipse results database \(no results table; it has no tables\)/ },
    { name: 'foreign', make: (f) => sqliteFile(f, "CREATE TABLE foo (x TEXT); INSERT INTO foo VALUES ('theirs')"), error: /is not an eclipse results database \(no results table; its tables: foo\)/ },
    { name: 'text', make: (f) => writeFileSync(f, 'not a database\n'), error: /is not an eclipse results database \(not a SQLite file\)/ },
  ];
  for (const c of cases) {
    const dir = join(tmp.dir, `not-ours-${c.name}`);
    mkdirSync(dir);
    const db = join(dir, 'results.sqlite');
    await c.make(db);
    const before = snapshot(dir);
    // the default output (report/ beside the database) must not be made either
    refused(eclipse(['report', '--db', db]), c.error);
    assert.deepEqual(snapshot(dir), before, `${c.name}: no table added, no file created beside it`);
  }
  // a database that does not exist is not created
  const none = join(tmp.dir, 'not-here', 'results.sqlite');
  refused(eclipse(['report', '--db', none, '--out', join(tmp.dir, 'not-here-report')]), /no results database at .*results\.sqlite/);
  assert.ok(!existsSync(dirname(none)) && !existsSync(join(tmp.dir, 'not-here-report')), 'nothing created');
});

test('a results database is read without a byte written to it or beside it, while a runner writes too', { skip: noSqlite ?? false, timeout: 120_000 }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const dir = join(tmp.dir, 'read-only');
  mkdirSync(dir);
  const db = join(dir, 'results.sqlite');
  const writer = ResultsDb.open(db);
  const cell = { hash: 'h1', label: 'urp / none', spec: { attack: 'urp', defense: 'none', architecture: 'resnet18', seed: 0, options: {} } };
  writer.addCells([cell as unknown as Parameters<typeof writer.addCells>[0][number]]);
  // a runner has the file open: its last commit is only in the WAL, and the read sees it
  assert.ok(existsSync(`${db}-wal`));
  assert.deepEqual(ResultsDb.read(db, (r) => r.statusCounts().counts), { pending: 1 });
  const other = { ...cell, hash: 'h2', spec: { ...cell.spec, seed: 1 } };
  assert.throws(() => ResultsDb.read(db, (r) => r.addCells([other as unknown as Parameters<typeof writer.addCells>[0][number]])), /readonly/, 'the read connection cannot write');
  writer.close();
  assert.deepEqual(readdirSync(dir), ['results.sqlite'], 'the runner closed: its WAL is gone');

  // no runner: the report reads the file alone, leaving no WAL or shared-memory file beside it
  const before = snapshot(dir);
  const out = join(tmp.dir, 'read-only-report');
  const r = eclipse(['report', '--db', db, '--out', out, '--no-images', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /cells registered: 1 pending/);
  assert.deepEqual(snapshot(dir), before, 'the database and its folder are unchanged');
  assert.deepEqual(ResultsDb.read(db, (x) => x.statusCounts().counts), { pending: 1 });
  assert.deepEqual(snapshot(dir), before);
});

test('--db a folder and --out a file are refused in one line, the output checked before anything is read or built', { skip: noSqlite ?? false, timeout: 120_000 }, async () => {
  const { ResultsDb } = await import('../src/matrix/db.js');
  const dir = join(tmp.dir, 'outs');
  mkdirSync(join(dir, 'runs'), { recursive: true });
  const db = join(dir, 'results.sqlite');
  ResultsDb.open(db).close();
  const file = join(dir, 'report.html');
  writeFileSync(file, '<p>an older report, kept</p>');
  const before = snapshot(dir);

  refused(eclipse(['report', '--db', join(dir, 'runs')]), /runs is a folder, not a results database: give the database file in it/);
  // without --quiet: no progress line comes before the refusal, so nothing was built
  refused(eclipse(['report', '--db', db, '--out', file]), /the report's output folder .*report\.html is a file: give a folder \(the report writes report\.html, report\.md, results\.csv into it\)/);
  // the output is checked first: with a missing database too, the error is about the output
  refused(eclipse(['report', '--db', join(dir, 'missing.sqlite'), '--out', file]), /output folder .*report\.html is a file/);
  refused(eclipse(['report', '--db', db, '--out', join(file, 'sub')]), /cannot make the report's output folder .*: .*report\.html is a file/);
  assert.deepEqual(snapshot(dir), before, 'nothing created or changed');
});

// ------------------------------------------------------------------------------------------ issue 28
// Runs of one variant (cells that differ only by their classifier, poison or defence seed): the
// report shows mean and spread, ranks on the means, marks rankings the spread does not support,
// and plots ECLIPSE's accuracy against the poison's make-up. Built from synthetic result rows.


interface SyntheticRun {
  attack: string;
  defense: string;
  acc: number;
  seed?: number;
  poisonSeed?: number;
  defenseSeed?: number;
  options?: Record<string, number | string | boolean>;
  makeup?: PoisonMakeupNumbers;
  purified?: PoisonMakeupNumbers;
  /** extra.stage_seconds (ECLIPSE's stages) */
  stages?: Record<string, number>;
}

async function syntheticRows(runs: readonly SyntheticRun[]): Promise<ResultRow[]> {
  const { resolveCell } = await import('../src/matrix/config.js');
  return runs.map((r): ResultRow => {
    const cell = resolveCell({
      profile: 'mini', attack: r.attack, defense: r.defense, architecture: 'resnet18', seed: r.seed ?? 0,
      ...(r.poisonSeed ? { poisonSeed: r.poisonSeed } : {}), ...(r.defenseSeed ? { defenseSeed: r.defenseSeed } : {}), options: r.options ?? {},
    });
    return {
      hash: cell.hash, label: cell.label, attack: r.attack, defense: r.defense, architecture: 'resnet18', seed: r.seed ?? 0,
      poison_seed: r.poisonSeed ?? 0, defense_seed: r.defenseSeed ?? 0, options: JSON.stringify(r.options ?? {}),
      makeup_l2: r.makeup?.l2 ?? null, makeup_high_freq: r.makeup?.high_freq ?? null, makeup_classwise: r.makeup?.classwise ?? null, makeup_scan_score: r.makeup?.scan_score ?? null,
      purified_l2: null, purified_high_freq: null, purified_classwise: null, purified_scan_score: null,
      test_acc: r.acc, clean_acc: null, seconds: 60, inputs: '{}', versions: '{}', finished_at: '2025-01-01 00:00:00', config: JSON.stringify(cell),
      extra: JSON.stringify({ ...(r.makeup ? { makeup: r.makeup } : {}), ...(r.purified ? { purified_makeup: r.purified } : {}), ...(r.stages ? { stage_seconds: r.stages } : {}) }),
    };
  });
}

/**
 * ECLIPSE's mean accuracy (%) per poison draw, and make-up numbers that relate to it: L2 exactly
 * linearly (r = 1), the high-frequency share monotonically but not linearly (rho = 1, r < 1), the
 * class-wise share not at all in order, the scan's score only on two draws (too few).
 */
const DRAW_ACC: Record<string, number[]> = { em: [61, 51, 71], tap: [80, 82, 84] };
const drawMakeup = (attack: string, poisonSeed: number): PoisonMakeupNumbers => {
  const acc = DRAW_ACC[attack]![poisonSeed]!;
  const classwise = attack === 'em' ? [0.3, 0.1, 0.2][poisonSeed]! : [0.4, 0.1, 0.3][poisonSeed]!;
  return { l2: (acc - 40) / 100, high_freq: ((acc - 40) / 50) ** 4, classwise, scan_score: attack === 'em' && poisonSeed < 2 ? 3 + poisonSeed : null };
};

function syntheticRuns(): SyntheticRun[] {
  const runs: SyntheticRun[] = [
    // the clean cell without defence sets the qualification line: 50 x 80 / 94.95 = 42.1%
    { attack: 'clean', defense: 'none', acc: 0.8 },
    // one run: rendered as before
    { attack: 'em', defense: 'none', acc: 0.2 },
    // ISS-J on EM: 55, 58, 61 over three poison seeds (range [55, 61] overlaps ECLIPSE's [50, 72])
    ...[0.55, 0.58, 0.61].map((acc, p): SyntheticRun => ({ attack: 'em', defense: 'iss-j', acc, poisonSeed: p })),
    // ISS-J on TAP: [60, 62], below ECLIPSE's [80, 84]
    ...[0.6, 0.62].map((acc, p): SyntheticRun => ({ attack: 'tap', defense: 'iss-j', acc, poisonSeed: p })),
    // AT: qualified on the means (44, 45) but its EM range [40, 48] crosses the line
    { attack: 'em', defense: 'at', acc: 0.4 },
    { attack: 'em', defense: 'at', acc: 0.48, poisonSeed: 1 },
    { attack: 'tap', defense: 'at', acc: 0.45 },
    // an ECLIPSE t* sweep on EM: t* = 50 over two defence seeds (40, 44)
    { attack: 'em', defense: 'eclipse', acc: 0.4, options: { tStar: 50 } },
    { attack: 'em', defense: 'eclipse', acc: 0.44, defenseSeed: 1, options: { tStar: 50 } },
  ];
  // ECLIPSE at the main settings: 3 poison draws per attack; EM over 2 defence seeds each
  // (draw mean +-1), TAP over one; every cell keeps its poison's make-up
  for (const attack of ['em', 'tap'])
    for (let p = 0; p < 3; p++) {
      const acc = DRAW_ACC[attack]![p]!;
      const deltas = attack === 'em' ? [-1, 1] : [0];
      deltas.forEach((d, defenseSeed) => runs.push({ attack, defense: 'eclipse', acc: (acc + d) / 100, poisonSeed: p, defenseSeed, makeup: drawMakeup(attack, p) }));
    }
  return runs;
}

test('Pearson r and Spearman rho on known data', async () => {
  const { pearson, spearman, ranks } = await import('../src/report/makeup.js');
  assert.equal(pearson([1, 2, 3, 4], [3, 5, 7, 9]), 1, 'a perfectly linear relation');
  assert.equal(pearson([1, 2, 3, 4], [9, 7, 5, 3]), -1);
  // by hand: dx = -2..2, dy = (-2, 0, 1, 0, 1): r = 6 / sqrt(10 x 6)
  assert.ok(Math.abs(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])! - 6 / Math.sqrt(60)) < 1e-12);
  // ties share their mean rank: ranks of y = (1, 2.5, 4.5, 2.5, 4.5), rho = 7 / sqrt(10 x 9)
  assert.deepEqual(ranks([2, 4, 5, 4, 5]), [1, 2.5, 4.5, 2.5, 4.5]);
  assert.ok(Math.abs(spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])! - 7 / Math.sqrt(90)) < 1e-12);
  // monotone, not linear: rho 1, r below 1
  assert.equal(spearman([1, 2, 3, 4], [1, 8, 27, 1000]), 1);
  assert.ok(pearson([1, 2, 3, 4], [1, 8, 27, 1000])! < 0.9);
  assert.equal(pearson([1, 2, 3], [5, 5, 5]), null, 'no spread: no correlation');
  assert.equal(pearson([1], [2]), null);
});

test('seeds as runs: mean ±sd with n in the title, second-best and ≈ in Table 1, spread in the plots, the make-up plot, the CSV', { timeout: 120_000 }, async () => {
  const { buildReport } = await import('../src/report/build.js');
  const { renderHtml, renderMarkdown } = await import('../src/report/page.js');
  const rows = await syntheticRows(syntheticRuns());
  const model = await buildReport(rows, { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const t1 = model.sections.find((s) => s.id === 'table1')!.tables[0]!;
  const col = (name: string): number => t1.columns.indexOf(name) - 1;
  const row = (head: string): (typeof t1.rows)[number] => t1.rows.find((r) => r.head === head)!;
  const em = col('EM');
  const tap = col('TAP');

  // n = 1: as before (the number alone; the title names the one cell)
  const none = row('w/o').cells[em]!;
  assert.equal(none.ours, '20.0');
  assert.match(none.title!, /^mean of 1 cell \(seed 0\); profile mini; [0-9a-f]+$/);
  assert.equal(row('w/o').cells[0]!.ours, '1');

  // ECLIPSE on EM: 6 runs (3 poison x 2 defence seeds): 60, 62, 50, 52, 70, 72
  const xs = [60, 62, 50, 52, 70, 72];
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1));
  const ecl = row('ECLIPSE').cells[em]!;
  assert.equal(ecl.ours, `${mean.toFixed(1)} ±${sd.toFixed(1)}`);
  assert.match(ecl.title!, /^n = 6 cells: mean 61\.00, sd \d+\.\d\d \(sample\), min-max 50\.00–72\.00; classifier seed 0; poison seeds 0, 1, 2; defence seeds 0, 1;/);
  assert.ok(ecl.title!.includes(`sd ${sd.toFixed(2)}`));
  assert.equal(row('ECLIPSE').cells[0]!.ours, '3-6 (poison, defence)', 'the runs per cell and their axes');
  assert.match(row('ECLIPSE').cells[0]!.title!, /poison seeds 0, 1, 2; defence seeds 0, 1/);
  assert.equal(row('ISS-J').cells[0]!.ours, '2-3 (poison)');

  // best (bold) and second (italic) on the means; EM's ranges overlap (≈), TAP's do not
  assert.ok(ecl.best && !ecl.second && ecl.mark === '≈');
  const issEm = row('ISS-J').cells[em]!;
  assert.ok(issEm.second && !issEm.best && issEm.mark === '≈', 'ISS-J is second on EM, its range overlapping');
  assert.match(issEm.title!, /≈: its range \[55\.0, 61\.0\] overlaps ECLIPSE's \[50\.0, 72\.0\]/);
  // on TAP the ranges do not overlap, but ECLIPSE has poison seeds 0-2 and ISS-J 0-1: marked ≠
  assert.ok(row('ECLIPSE').cells[tap]!.best && row('ECLIPSE').cells[tap]!.mark === '≠');
  assert.ok(row('ISS-J').cells[tap]!.second && row('ISS-J').cells[tap]!.mark === '≠');
  assert.match(row('ISS-J').cells[tap]!.title!, /≠: ISS-J over poison seeds 0, 1, ECLIPSE over poison seeds 0, 1, 2: not the same draws/);
  assert.ok(!row('ISS-J').cells[em]!.title!.includes('≠'), 'EM: both over poison seeds 0, 1, 2');
  assert.ok(!row('AT').cells[em]!.best && !row('AT').cells[em]!.second, 'third: neither mark');
  const notes = t1.notes.join('\n');
  assert.match(notes, /Qualified defences, by the paper's rule \(under 50% on any attack is unqualified, judged on the means\).*: 42\.1% = 50 x 80\.0 \/ 94\.95 .*: ISS-J, AT, ECLIPSE/);
  assert.match(notes, /Best qualified defence per attack \(bold\): EM ECLIPSE 61\.0 \(second, italic: ISS-J 58\.0 ≈\); TAP ECLIPSE 82\.0 \(second, italic: ISS-J 61\.0 ≠\)/);
  assert.match(notes, /≠ marks a best and second-best averaged over different poison draws.*\(TAP: ECLIPSE over poison seeds 0, 1, 2; ISS-J over poison seeds 0, 1\)/);
  assert.match(notes, /≈ marks a best and second-best whose ranges \[min, max\] over their runs overlap.*EM: ECLIPSE \[50\.0, 72\.0\] vs ISS-J \[55\.0, 61\.0\]/);
  assert.match(notes, /cross the line \(42\.1%\).*: AT on EM \[40\.0, 48\.0\], mean 44\.0 \(qualified\)\./);
  assert.match(row('AT').cells[em]!.title!, /crosses the qualification line 42\.1%/);

  // rendered: HTML (bold, italic, the mark, n in the title) and Markdown
  const html = renderHtml(model, 'now');
  assert.ok(html.includes(`<strong>${ecl.ours}</strong> <span class="mark">≈</span>`));
  assert.ok(html.includes(`<em>${issEm.ours}</em> <span class="mark">≈</span>`));
  assert.match(html, /title="n = 6 cells: mean 61\.00/);
  assert.match(html, /<td title="mean of 1 cell \(seed 0\); profile mini; [0-9a-f]+">20\.0 <span class="paper">\(17\.58\)<\/span><\/td>/, 'n = 1 renders as before');
  const md = renderMarkdown(model, 'now');
  const mdRow = (name: string): string[] => md.split('\n').find((l) => l.startsWith(`| ${name} |`))!.split('|').slice(2, -1).map((s) => s.trim());
  const mdCols = md.split('\n').find((l) => l.startsWith('| defence | seeds |'))!.split('|').slice(2, -1).map((s) => s.trim());
  assert.equal(mdRow('ECLIPSE')[mdCols.indexOf('EM')], `**${ecl.ours}** ≈ (82.80)`);
  assert.equal(mdRow('ISS-J')[mdCols.indexOf('EM')], `*${issEm.ours}* ≈ (78.35)`);
  assert.equal(mdRow('w/o')[mdCols.indexOf('EM')], '20.0 (17.58)');
  assert.match(mdRow('ECLIPSE')[mdCols.indexOf('TAP')]!, /^\*\*82\.0 ±2\.0\*\* ≠ \(/);

  // the t* sweep: the two defence seeds at t* = 50 are one point with a min-max error bar
  const sweeps = model.sections.find((s) => s.id === 'sweeps')!.plots;
  assert.equal(sweeps.length, 1);
  assert.match(sweeps[0]!.caption, /error bars: min-max over the runs of the 2 points that average more than one \(n in each point's tooltip\)/);
  assert.match(sweeps[0]!.svg, /<svg/);

  // the make-up plot: 6 draws, L2 exactly linear (r = 1), the high-frequency share monotone
  const mk = model.sections.find((s) => s.id === 'makeup')!;
  assert.equal(mk.plots.length, 1);
  const cap = mk.plots[0]!.caption;
  assert.match(cap, /One point per poison draw \(attack x poison seed, 6 draws\)/);
  assert.match(cap, /L2 \(mean per image, \[0,1\] units\): r = 1\.00, ρ = 1\.00, n = 6/);
  const hf = /energy share above half Nyquist: r = (-?\d\.\d\d), ρ = 1\.00, n = 6/.exec(cap);
  assert.ok(hf && Number(hf[1]) < 1, `high-frequency share: monotone, not linear (${cap})`);
  assert.match(cap, /poison scan's score: n = 2: too few draws for a correlation/);
  const { makeupFits, poisonDraws, pearson, spearman } = await import('../src/report/makeup.js');
  const { ResultSet, toReportCells } = await import('../src/report/results.js');
  const draws = poisonDraws(new ResultSet(toReportCells(rows)), 'resnet18');
  assert.deepEqual(draws.map((d) => [d.attack, d.poisonSeed, d.n, Number(d.acc.toFixed(6))]), [['em', 0, 2, 61], ['em', 1, 2, 51], ['em', 2, 2, 71], ['tap', 0, 1, 80], ['tap', 1, 1, 82], ['tap', 2, 1, 84]]);
  const cw = makeupFits(draws).find((f) => f.key === 'classwise')!;
  const accs = [61, 51, 71, 80, 82, 84];
  const cws = [0.3, 0.1, 0.2, 0.4, 0.1, 0.3];
  assert.ok(Math.abs(cw.r! - pearson(cws, accs)!) < 1e-9 && Math.abs(cw.rho! - spearman(cws, accs)!) < 1e-9);
  assert.match(cap, new RegExp(`class-wise energy share: r = ${pearson(cws, accs)!.toFixed(2)}, ρ = ${spearman(cws, accs)!.toFixed(2)}, n = 6`));
  assert.match(mk.intro.join(' '), /ResNet-18: no plot of ECLIPSE's accuracy against what purification left \(the purified set against the clean one\): 0 purified sets have make-up numbers/);
  assert.match(mk.intro.join(' '), /ResNet-18: Of the poison's make-up measures, L2 \(mean per image, \[0,1\] units\) predicts ECLIPSE's accuracy best \(r = 1\.00, ρ = 1\.00, n = 6; r² = 1\.00\): strongly, and the higher it is, the higher ECLIPSE's accuracy/);
  assert.match(mk.plots[0]!.svg, /<svg/);
  assert.ok(md.includes("Plot (report.html): **ECLIPSE's accuracy vs the poison's make-up (ResNet-18)**"));

  // the CSV: n, sd, min, max and the seeds per axis
  const csv = model.csv.trim().split('\n');
  const header = csv[0]!.split(',');
  const line = csv.find((l) => l.startsWith('resnet18,eclipse,em,tStar=100,'))!.split(',');
  const field = (name: string): string => line[header.indexOf(name)]!;
  assert.deepEqual([field('n'), field('test_acc_mean'), field('test_acc_std'), field('test_acc_min'), field('test_acc_max')], ['6', '61.00', sd.toFixed(2), '50.00', '72.00']);
  assert.deepEqual([field('seeds'), field('poison_seeds'), field('defense_seeds')], ['0', '0 1 2', '0 1']);
});

test('the make-up plot is skipped with a note under 3 poison draws with make-up numbers', async () => {
  const { buildReport } = await import('../src/report/build.js');
  const runs = syntheticRuns().map((r): SyntheticRun => (r.attack === 'tap' || (r.poisonSeed ?? 0) > 0 ? { ...r, makeup: undefined } : r));
  const model = await buildReport(await syntheticRows(runs), { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const mk = model.sections.find((s) => s.id === 'makeup')!;
  assert.equal(mk.plots.length, 0);
  assert.match(mk.intro.join(' '), /ResNet-18: no plot of ECLIPSE's accuracy against the poison's make-up: 1 poison draw has make-up numbers among ECLIPSE's main cells \(at least 3 needed/);
});

test('what purification left: one point per purified set (poison seed x defence seed), the clean twin included', async () => {
  const { buildReport } = await import('../src/report/build.js');
  const { poisonDraws } = await import('../src/report/makeup.js');
  const { ResultSet, toReportCells } = await import('../src/report/results.js');
  // the purified set's class-wise share falls as ECLIPSE's accuracy rises (the clean twin's too)
  const left = (acc: number): PoisonMakeupNumbers => ({ l2: 0.5, high_freq: 0.2, classwise: (100 - 100 * acc) / 1000, scan_score: null });
  const runs = [
    ...syntheticRuns().map((r): SyntheticRun => (r.defense === 'eclipse' && !r.options ? { ...r, purified: left(r.acc) } : r)),
    { attack: 'clean', defense: 'eclipse', acc: 0.9, purified: left(0.9) },
  ];
  const rows = await syntheticRows(runs);
  const sets = poisonDraws(new ResultSet(toReportCells(rows)), 'resnet18', 'purified');
  // EM: 3 poison draws x 2 defence seeds; TAP: 3 x 1; the clean twin: 1 (last, as in the tables)
  assert.deepEqual(sets.map((d) => `${d.attack} ${d.poisonSeed}/${d.defenseSeed} n${d.n}`), ['em 0/0 n1', 'em 0/1 n1', 'em 1/0 n1', 'em 1/1 n1', 'em 2/0 n1', 'em 2/1 n1', 'tap 0/0 n1', 'tap 1/0 n1', 'tap 2/0 n1', 'clean 0/0 n1']);
  const model = await buildReport(rows, { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const mk = model.sections.find((s) => s.id === 'makeup')!;
  assert.deepEqual(mk.plots.map((p) => p.id), ['makeup-resnet18', 'purified-makeup-resnet18']);
  const cap = mk.plots[1]!.caption;
  assert.match(cap, /One point per purified set \(attack x poison seed x defence seed, 10 sets; "Clean" is the clean twin/);
  assert.match(cap, /class-wise energy share: r = -\d\.\d\d, ρ = -1\.00, n = 10/);
  assert.match(mk.intro.join(' '), /Of the purified set's make-up measures, class-wise energy share predicts ECLIPSE's accuracy best .*the higher it is, the lower ECLIPSE's accuracy/);
});

test("purifier recipes (issue 25): one row per sparse-set, denoiser and purification recipe, the poison left and the cost beside, the t* and iterations lines", async () => {
  const { buildReport } = await import('../src/report/build.js');
  const left = (score: number): PoisonMakeupNumbers => ({ l2: 0.5, high_freq: 0.2, classwise: 0.01, scan_score: score });
  // accuracy (%) and the purified set's scan score per recipe, on clean data and TAP
  const recipes: [Record<string, number>, number, number, number, number][] = [
    [{}, 80, 1.0, 30, 12.0],
    [{ iterations: 4000 }, 81, 0.9, 40, 9.0],
    [{ trainMaxT: 150, tStar: 150 }, 76, 1.2, 45, 7.0],
    [{ trainMaxT: 150, tStar: 50 }, 82, 0.8, 25, 14.0],
    [{ trainMaxT: 200, tStar: 200 }, 70, 1.5, 55, 5.0],
    [{ trainMaxT: 300, tStar: 300 }, 60, 2.0, 58, 4.0],
  ];
  const runs: SyntheticRun[] = recipes.flatMap(([options, clean, cs, tap, ts]) => [
    { attack: 'clean', defense: 'eclipse', acc: clean / 100, options, purified: left(cs), stages: { denoiser: 420, purify: 180 } },
    { attack: 'tap', defense: 'eclipse', acc: tap / 100, options, purified: left(ts) },
  ]);
  // a second defence seed of the main TAP cell; cells that change the compensation or the parts are not purifier rows
  runs.push({ attack: 'tap', defense: 'eclipse', acc: 0.34, defenseSeed: 1, purified: left(10.0) });
  runs.push({ attack: 'tap', defense: 'eclipse', acc: 0.9, options: { p: 0.8 }, purified: left(12.0) });
  runs.push({ attack: 'tap', defense: 'eclipse', acc: 0.9, options: { ablation: 'A' }, purified: left(12.0) });
  // an attack under one recipe only gets no column
  runs.push({ attack: 'em', defense: 'eclipse', acc: 0.5, purified: left(3.0) });
  const model = await buildReport(await syntheticRows(runs), { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const sec = model.sections.find((s) => s.id === 'purifier')!;
  const [acc, lft] = sec.tables;
  assert.deepEqual(acc!.columns, ['purifier', 'clean', 'TAP']);
  assert.deepEqual(acc!.rows.map((r) => r.head), [
    "mini's settings", 'denoiser iterations 4000', 'denoiser trained on t ≤ 150, t* 50', 'denoiser trained on t ≤ 150, t* 150',
    'denoiser trained on t ≤ 200, t* 200', 'denoiser trained on t ≤ 300, t* 300',
  ]);
  const row = (t: typeof acc, head: string): string[] => t!.rows.find((r) => r.head === head)!.cells.map((c) => c.ours);
  assert.deepEqual(row(acc, "mini's settings"), ['80.0', `32.0 ±${Math.sqrt(8).toFixed(1)}`], 'two defence seeds: mean ±sd');
  assert.deepEqual(row(acc, 'denoiser trained on t ≤ 300, t* 300'), ['60.0', '58.0']);
  assert.deepEqual(lft!.columns, ['purifier', 'clean', 'TAP', 'denoiser (min)', 'purify (min)']);
  assert.deepEqual(row(lft, "mini's settings"), ['1.00', `11.00 ±${Math.sqrt(2).toFixed(2)}`, '7.0', '3.0']);
  assert.deepEqual(row(lft, 'denoiser trained on t ≤ 200, t* 200'), ['1.50', '5.00', '7.0', '3.0']);
  // the plots: t* with one line per denoiser range, and the denoiser's iterations
  assert.deepEqual(sec.plots.map((p) => p.id), ['diagnosis-resnet18-tStar', 'diagnosis-resnet18-iterations']);
  assert.match(sec.plots[0]!.caption, /one line per denoiser: trained on t ≤ t\* \(mini's rule\) or on a fixed range/);
  for (const label of ['denoiser on t ≤ t*', 'denoiser trained on t ≤ 150']) assert.ok(sec.plots[0]!.svg.includes(label), label);
  assert.match(sec.plots[1]!.svg, /<svg/);
  // one recipe only: a note, no table
  const one = await buildReport(await syntheticRows(runs.filter((r) => !r.options || Object.keys(r.options).length === 0)), { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const s1 = one.sections.find((s) => s.id === 'purifier')!;
  assert.equal(s1.tables.length, 0);
  assert.match(s1.intro.join(' '), /Only one purifier recipe/);
});

test('methods beyond the paper (issue 29): OPS after the paper\'s columns and COIN after its rows, marked ‡ with a note, judged by the same qualified rule', async () => {
  const { buildReport } = await import('../src/report/build.js');
  const rows = await syntheticRows([
    { attack: 'clean', defense: 'none', acc: 0.8 },
    { attack: 'clean', defense: 'coin', acc: 0.75 },
    { attack: 'em', defense: 'none', acc: 0.2 },
    { attack: 'ops', defense: 'none', acc: 0.2 },
    { attack: 'em', defense: 'eclipse', acc: 0.6 },
    { attack: 'ops', defense: 'eclipse', acc: 0.3 },
    { attack: 'em', defense: 'coin', acc: 0.5 },
    { attack: 'ops', defense: 'coin', acc: 0.55 },
  ]);
  const model = await buildReport(rows, { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const t1 = model.sections.find((s) => s.id === 'table1')!.tables[0]!;
  assert.ok(t1.columns.indexOf('OPS ‡') > t1.columns.indexOf('ADP'), `OPS after the paper's attacks: ${t1.columns.join(', ')}`);
  assert.ok(t1.columns.includes('EM') && !t1.columns.includes('EM ‡'), 'a paper attack is not marked');
  const heads = t1.rows.map((r) => r.head);
  assert.ok(heads.indexOf('COIN ‡') > heads.indexOf('ECLIPSE'), `COIN after the paper's defences: ${heads.join(', ')}`);
  const notes = t1.notes.join('\n');
  assert.match(notes, /‡ not in the paper/);
  // line 50 x 80 / 94.95 = 42.1: ECLIPSE's 30 on OPS makes it unqualified; COIN (50, 55) is the best qualified on both
  assert.match(notes, /: COIN; not qualified: ECLIPSE \(OPS 30\.0\)/);
  const ops = t1.columns.indexOf('OPS ‡') - 1;
  assert.ok(t1.rows.find((r) => r.head === 'COIN ‡')!.cells[ops]!.best);
  // judged on the paper's attacks alone, ECLIPSE (EM 60) qualifies and is the best on EM
  assert.match(notes, /On the paper's attacks alone \(as its Table 1 judges\), qualified: ECLIPSE, COIN; the ‡ attacks take out ECLIPSE \(OPS 30\.0\)\. Best qualified per paper attack by that rule: EM ECLIPSE 60\.0\./);
  const t3 = model.sections.flatMap((s) => s.tables).find((t) => t.id === 'table3')!;
  assert.ok(t3.rows.some((r) => r.head === 'COIN ‡') && t3.notes.some((n) => n.startsWith('‡ not in the paper')));
  // Table 4: OPS is marked, and left out of AVG (beside the paper's 8-attack average): EM 60 alone, not (60 + 30) / 2
  const t4 = model.sections.flatMap((s) => s.tables).find((t) => t.id === 'table4-resnet18')!;
  assert.deepEqual(t4.columns, ['parts', 'EM', 'OPS ‡', 'AVG']);
  assert.equal(t4.rows.find((r) => r.head === 'A+B+C')!.cells[2]!.ours, '60.0');
  assert.ok(t4.notes.some((n) => n.startsWith('‡ not in the paper')));
});

test("issue 25's decision rule: each purifier recipe on the reference's draws, against the line and the reference; the cheapest that clears wins", async () => {
  const { buildReport } = await import('../src/report/build.js');
  const eight = ['em', 'tap', 'rem', 'sep', 'efp', 'urp', 'lsp', 'ar'];
  // the line: 50 x 80 / 94.95 = 42.13%; the reference: clean 79/81 over two defence seeds, EM
  // 42/44 over two poison draws, every other attack 45
  const runs: SyntheticRun[] = [{ attack: 'clean', defense: 'none', acc: 0.8 }];
  const recipe = (options: Record<string, number>, clean: [number, number], acc: (attack: string, poisonSeed: number) => number, stages: Record<string, number>): void => {
    clean.forEach((a, defenseSeed) => runs.push({ attack: 'clean', defense: 'eclipse', acc: a / 100, defenseSeed, options, stages }));
    for (const attack of eight) for (const poisonSeed of attack === 'em' ? [0, 1] : [0]) runs.push({ attack, defense: 'eclipse', acc: acc(attack, poisonSeed) / 100, poisonSeed, options, stages });
  };
  recipe({}, [79, 81], (a, p) => (a === 'em' ? 42 + 2 * p : 45), { denoiser: 420, purify: 180 });
  recipe({ trainMaxT: 300, tStar: 300 }, [79, 80], () => 60, { denoiser: 420, purify: 180 }); // clears, 10 min
  recipe({ iterations: 500 }, [80, 80], () => 50, { denoiser: 120, purify: 180 }); // clears, 5 min: the winner
  recipe({ trainMaxT: 200, tStar: 200 }, [75, 76], () => 60, { denoiser: 420, purify: 180 }); // clean pays 4.5
  // EM 42 and 43: mean 42.5 above the line, but mean - SE = 42.0 under it: "at the line" (and
  // 0.5 under the reference's 43: no pay). TAP 43.5: over the line, 1.5 points under the reference
  recipe({ trainMaxT: 0 }, [80, 80], (a, p) => (a === 'em' ? 42 + p : a === 'tap' ? 43.5 : 50), { denoiser: 420, purify: 180 });
  // one EM draw of the two (and nothing else) ran: undecided, provisionally under the line
  runs.push({ attack: 'em', defense: 'eclipse', acc: 0.3, options: { iterations: 4000 }, stages: { denoiser: 1680, purify: 180 } });
  // a cell on a draw the reference lacks is left out (poison seed 2 of TAP)
  runs.push({ attack: 'tap', defense: 'eclipse', acc: 0.01, poisonSeed: 2, options: { trainMaxT: 300, tStar: 300 } });
  const model = await buildReport(await syntheticRows(runs), { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const t = model.sections.find((s) => s.id === 'purifier')!.tables.find((x) => x.id === 'decision-resnet18')!;
  assert.deepEqual(t.columns, ['purifier', 'clean', 'EM', 'TAP', 'REM', 'SEP', 'EFP', 'URP', 'LSP', 'AR', 'own stages (min)', 'verdict']);
  const row = (head: string): string[] => t.rows.find((r) => r.head === head)!.cells.map((c) => c.ours);
  const verdict = (head: string): string => row(head).at(-1)!;
  assert.deepEqual(row("mini's settings (the reference)").slice(0, 3), ['80.0 (2)', '43.0 (2)', '45.0 (1)']);
  assert.deepEqual(row('denoiser trained on t ≤ 300, t* 300').slice(0, 4), ['79.5 (2/2)', '60.0 (2/2)', '60.0 (1/1)', '60.0 (1/1)']);
  assert.equal(verdict('denoiser trained on t ≤ 300, t* 300'), 'clears');
  assert.equal(row('denoiser trained on t ≤ 300, t* 300').at(-2), '10.0');
  assert.equal(verdict('denoiser iterations 500'), 'clears');
  assert.equal(verdict('denoiser trained on t ≤ 200, t* 200'), 'fails: clean data pays 4.5 points');
  assert.equal(verdict('denoiser trained on every t'), 'fails: EM at the line (42.5 against 42.1); TAP pays 1.5 points');
  const cellOf = (head: string, col: string): (typeof t.rows)[number]['cells'][number] => t.rows.find((r) => r.head === head)!.cells[t.columns.indexOf(col) - 1]!;
  assert.equal(cellOf('denoiser trained on every t', 'EM').mark, '≈');
  assert.match(cellOf('denoiser trained on every t', 'EM').title!, /mean − SE 42\.00 against the line 42\.13; at the line$/);
  assert.equal(cellOf('denoiser trained on every t', 'TAP').mark, '✗');
  assert.equal(cellOf('denoiser trained on every t', 'REM').mark, '✓');
  assert.equal(cellOf('denoiser iterations 4000', 'EM').mark, '✗');
  // a single failing cell on an attack with one reference draw is final
  const final = await buildReport(await syntheticRows([...runs, { attack: 'tap', defense: 'eclipse', acc: 0.3, options: { iterations: 4000 } }]), { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const tf = final.sections.find((s) => s.id === 'purifier')!.tables.find((x) => x.id === 'decision-resnet18')!;
  assert.equal(tf.rows.find((r) => r.head === 'denoiser iterations 4000')!.cells.at(-1)!.ours, 'fails: TAP under the line (30.0 against 42.1); TAP pays 15.0 points');
  assert.equal(verdict('denoiser iterations 4000'), 'undecided: 1 of 11 cells ran; so far EM under the line (30.0 against 42.1), EM pays 12.0 points');
  // paired: the provisional pay is against the reference's same draw (poison seed 0: 42), not its mean (43)
  assert.match(cellOf('denoiser iterations 4000', 'EM').title!, /the profile's recipe on the same draws: 42\.00 \(n 1\)/);
  assert.deepEqual(row('denoiser iterations 4000').slice(0, 3), ['– (0/2)', '30.0 (1/2)', '– (0/1)']);
  assert.match(cellOf('denoiser iterations 4000', 'EM').title!, /not all draws yet: provisional$/);
  assert.match(t.notes.join(' '), /Decision so far: denoiser iterations 500 clears the rule and is the cheapest that does \(5\.0 min\)/);
});

test("the paper's Tables 5-7 as read here: each row's eight numbers average to the AVG the paper prints", async () => {
  const { PAPER_STUDY, AVG_ATTACKS } = await import('../src/report/paper.js');
  for (const [table, rows] of Object.entries(PAPER_STUDY))
    for (const [value, r] of Object.entries(rows)) {
      const xs = AVG_ATTACKS.map((a) => r.values[a as keyof typeof r.values]);
      assert.ok(xs.every((x) => typeof x === 'number'), `${table} ${value}: eight numbers`);
      const mean = (xs as number[]).reduce((s, x) => s + x, 0) / xs.length;
      // the paper rounds each number and its AVG to two decimals
      assert.ok(Math.abs(mean - r.avg) <= 0.006, `${table} ${value}: mean ${mean.toFixed(4)} against the printed ${r.avg}`);
      for (const a of r.decoded) assert.ok(AVG_ATTACKS.includes(a), `${table} ${value}: decoded ${a} is an attack`);
    }
});

test("the paper's sensitivity study (issue 25): Tables 5-7 beside the paper's numbers, Fig. 5 as ours, like-for-like draws per attack", async () => {
  const { buildReport } = await import('../src/report/build.js');
  const runs: SyntheticRun[] = [
    { attack: 'clean', defense: 'none', acc: 0.8 },
    // the main cells: TAP on two poison draws, EM and OPS on one; their clean twin
    { attack: 'clean', defense: 'eclipse', acc: 0.7 },
    { attack: 'tap', defense: 'eclipse', acc: 0.3 },
    { attack: 'tap', defense: 'eclipse', acc: 0.5, poisonSeed: 1 },
    { attack: 'em', defense: 'eclipse', acc: 0.45 },
    { attack: 'ops', defense: 'eclipse', acc: 0.2 },
    // Table 5: M 1 (the paper's M 0) and M 6 on poison seed 0
    { attack: 'tap', defense: 'eclipse', acc: 0.32, options: { M: 1 } },
    { attack: 'tap', defense: 'eclipse', acc: 0.34, options: { M: 6 } },
    { attack: 'clean', defense: 'eclipse', acc: 0.66, options: { M: 6 } },
    // Table 6: 10 sparse images per class of mini's 500 = 2%
    { attack: 'tap', defense: 'eclipse', acc: 0.31, options: { B: 10 } },
    // Table 7: one denoiser on t <= 150 for t* 50 and 150
    { attack: 'tap', defense: 'eclipse', acc: 0.28, options: { trainMaxT: 150, tStar: 50 } },
    { attack: 'tap', defense: 'eclipse', acc: 0.36, options: { trainMaxT: 150, tStar: 150 } },
    // Fig. 5b: p on two defence seeds
    { attack: 'tap', defense: 'eclipse', acc: 0.4, options: { p: 0.8 } },
    { attack: 'tap', defense: 'eclipse', acc: 0.42, options: { p: 0.8 }, defenseSeed: 1 },
    // a Table 4 part is not a row of any of them
    { attack: 'tap', defense: 'eclipse', acc: 0.1, options: { ablation: 'A' } },
  ];
  const model = await buildReport(await syntheticRows(runs), { db: 'synthetic.sqlite', artifactsDir: join(tmp.dir, 'no-artifacts'), images: false });
  const sec = model.sections.find((s) => s.id === 'study')!;
  assert.deepEqual(sec.tables.map((t) => t.id), ['table5-resnet18', 'table6-resnet18', 'table7-resnet18', 'fig5b-resnet18']);
  assert.match(sec.intro.join(' '), /no sweep yet .* Fig\. 5a \(denoiser iterations\), Fig\. 5c \(sigma \(noise\)\)/);
  const t5 = sec.tables[0]!;
  // OPS ran at one value only: not a column; EM is (a paper attack)
  assert.deepEqual(t5.columns, ['M (replication)', 'EM', 'TAP', 'AVG', 'clean']);
  const cells = (t: typeof t5, head: string): string[] => t.rows.find((r) => r.head === head)!.cells.map((c) => `${c.ours}${c.paper !== undefined ? ` (${c.paper})` : ''}`);
  assert.deepEqual(t5.rows.map((r) => r.head), ["M 1, the paper's M 0: no enlargement", "M 4 (mini's)", 'M 6']);
  // TAP's main row: poison seed 0 only (the M rows have no seed 1), not the mean of 30 and 50
  assert.deepEqual(cells(t5, "M 4 (mini's)"), ['45.0 (82.80)', '30.0 (86.13)', '37.5 (84.47)', '70.0']);
  assert.deepEqual(cells(t5, "M 1, the paper's M 0: no enlargement"), ['– (78.30)', '32.0 (86.59)', '32.0* (86.59)', '–']);
  assert.deepEqual(cells(t5, 'M 6'), ['– (80.75)', '34.0 (86.79)', '34.0* (86.79)', '66.0']);
  assert.ok(t5.notes.some((n) => /the paper's M 0 \(no enlargement\) is M 1 here/.test(n)));
  // Table 6: the share B/N names the paper's row
  const t6 = sec.tables[1]!;
  assert.deepEqual(t6.rows.map((r) => r.head), ['B 10, B/N 2%', "B 20, B/N 4% (mini's)"]);
  assert.equal(cells(t6, 'B 10, B/N 2%')[1], '31.0 (84.28)');
  // Table 7: the denoiser's range names the row; the paper's number by t*; † on a decoded one
  const t7 = sec.tables[2]!;
  assert.deepEqual(t7.rows.map((r) => r.head), ['t* 50, denoiser trained on t <= 150', "t* 100, denoiser trained on t <= 100 (mini's)", 't* 150, denoiser trained on t <= 150']);
  assert.equal(cells(t7, 't* 50, denoiser trained on t <= 150')[1], '28.0 (87.66)');
  // Fig. 5b: ours only, mean ±sd over the two defence seeds
  const f5b = sec.tables[3]!;
  assert.deepEqual(cells(f5b, 'p 0.8'), ['–', `41.0 ±${Math.sqrt(2).toFixed(1)}`, '41.0*', '–']);
  assert.ok(f5b.notes.some((n) => /Fig\. 5b .* without readable numbers: ours only/.test(n)));
  // Table 4 gains the clean twin's column where a part has one
  const t4 = model.sections.find((s) => s.id === 'table4')!.tables[0]!;
  assert.equal(t4.columns.at(-1), 'clean');
  assert.equal(t4.rows.find((r) => r.head === 'A+B+C')!.cells.at(-1)!.ours, '70.0');
  assert.equal(t4.rows.find((r) => r.head === 'A')!.cells.at(-1)!.ours, '–');
});

test("a row's AVG: the mean over the attacks it has, partial where it misses some, and what the paper's number beside it averages", async () => {
  const { rowAverage, avgText } = await import('../src/report/format.js');
  const one = (mean: number): Stat => ({ mean, std: 0, min: mean, max: mean, n: 1, seeds: [0], poisonSeeds: [0], defenseSeeds: [0], profiles: ['mini'], hashes: ['x'] });
  const stats = new Map<string, Stat>([['em', one(40)], ['tap', one(20)], ['lsp', one(63)]]);
  const full = rowAverage(['em', 'tap', 'lsp'], (a) => stats.get(a));
  assert.deepEqual({ avg: full.avg, partial: full.partial, over: full.over }, { avg: 41, partial: false, over: ['em', 'tap', 'lsp'] });
  assert.equal(avgText(full), '41.0');
  const part = rowAverage(['em', 'tap', 'rem', 'lsp'], (a) => stats.get(a));
  assert.equal(part.partial, true);
  assert.deepEqual(part.have, ['em', 'tap', 'lsp']);
  assert.equal(avgText(part), '41.0*');
  // a row with none yet: a dash, and the paper's number beside it is over every attack of the table
  const none = rowAverage(['rem', 'sep'], () => null);
  assert.deepEqual({ avg: none.avg, partial: none.partial, over: none.over, text: avgText(none) }, { avg: null, partial: false, over: ['rem', 'sep'], text: '–' });
});
