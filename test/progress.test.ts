// The progress line every long job prints: its fields, rate, ETA, and no rate where the units
// are only estimates (the matrix).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Progress, formatDuration } from '../src/io/progress.js';

/** A non-TTY stream that keeps what is written. */
function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY: false, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

test('progress: percent, fields, rate in its unit and an ETA', () => {
  const out = sink();
  const p = new Progress({ label: 'train', total: 200, unit: 'img', stream: out.stream, plainEvery: 0 });
  p.tick(50, { epoch: '1/4' });
  p.tick(150);
  p.finish({ loss: '0.5' });
  const lines = out.text().trim().split('\n');
  assert.match(lines[0]!, /^train {2}25\.0% \| epoch 1\/4 \| \d+ img\/s \| elapsed \d+s \| ETA (\d+s|--)$/);
  assert.match(lines.at(-1)!, /^train 100\.0% \| loss 0\.5 \| /);
  p.finish();
  assert.doesNotMatch(out.text(), /\| {2}\|/, 'no empty field between bars');
});

test('progress: showRate false leaves the rate out (estimated units are not a speed)', () => {
  const out = sink();
  const p = new Progress({ label: 'matrix', total: 3600, showRate: false, stream: out.stream, plainEvery: 0 });
  p.tick(600, { cells: '1/6' });
  p.finish();
  assert.match(out.text(), /^matrix {2}16\.7% \| cells 1\/6 \| elapsed \d+s \| ETA/m);
  assert.doesNotMatch(out.text(), /\/s\b/);
});

test('progress: durations read as h/m/s', () => {
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(125), '2m05s');
  assert.equal(formatDuration(3 * 3600 + 7 * 60), '3h07m');
  assert.equal(formatDuration(Number.NaN), '--');
});
