// eclipse report (issue 10 part 3): a small matrix run on synthetic data (two attacks x {none,
// eclipse}, a t* sweep, two ablations) gives a results database; the report made from it is
// loaded in a real headless Chromium, where every table, plot and image must render with a
// size, with no console error and no request leaving the page. An empty database must render too.
// Chromium: Debian's (npm run setup installs it) or $ECLIPSE_CHROMIUM; playwright-core downloads
// nothing. $ECLIPSE_REPORT_SCREENSHOT=FILE.png keeps the full-page screenshots (FILE-empty.png too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { findChromium, noChromiumReason } from '../src/report/chromium.js';
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
  assert.equal(csv[0], 'architecture,defense,attack,variant,main,profile,n,seeds,test_acc_mean,test_acc_std,clean_acc_mean,paper_test_acc,paper_decoded,hashes');
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
