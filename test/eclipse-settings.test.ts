// ECLIPSE's settings table (issue 24, deliverable 2): one declaration per knob, from which the
// profiles, the CLI's flags and help, the matrix's options and the report's labels all come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { ECLIPSE_MATRIX_KEYS, ECLIPSE_SETTINGS, eclipseProfile, eclipseRecipe, eclipseSettingsOf, type EclipseSettingKey, type EclipseSettingSpec, type EclipseSettings } from '../src/eclipse-settings.js';
import { ECLIPSE_FLAGS, eclipseFrom } from '../src/cli/eclipseflags.js';
import { parse } from '../src/cli/args.js';
import { MATRIX_OPTIONS, expandMatrix, parseMatrixConfig, resolveCell } from '../src/matrix/config.js';
import { optionValue } from '../src/report/results.js';
import { optionLabel } from '../src/report/paper.js';
import { DEFENSES } from '../src/defenses/registry.js';
import { PROFILES } from '../src/profiles.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclipse.js');
const KEYS = Object.keys(ECLIPSE_SETTINGS) as EclipseSettingKey[];

test('the profiles are the table: every setting lands in the recipe at its profile value, and back', () => {
  for (const profile of PROFILES) {
    const e = eclipseProfile(profile);
    const flat = eclipseSettingsOf(e);
    for (const k of KEYS) assert.deepEqual(flat[k], ECLIPSE_SETTINGS[k].profiles[profile], `${profile} ${k}`);
    assert.deepEqual(eclipseRecipe(flat as EclipseSettings, profile), e, 'eclipseSettingsOf inverts eclipseRecipe');
  }
  // the paper's recipe (reference-facts): T = 4000, t* = 100, M = 4, 2000 sparse images, p 0.4, sigma 0.05
  const paper = eclipseProfile('paper');
  assert.deepEqual([paper.denoiser.steps, paper.purify.tStar, paper.sparse.replication, paper.sparse.perClass * 10, paper.compensation.p, paper.compensation.sigma], [4000, 100, 4, 2000, 0.4, 0.05]);
  // an override of one setting changes that field and nothing else
  for (const k of KEYS) {
    const spec: EclipseSettingSpec = ECLIPSE_SETTINGS[k];
    const base = spec.profiles.mini;
    const other = Array.isArray(base) ? [...base, 2] : (base as number) + (spec.kind === 'int' ? 1 : spec.max === 1 || spec.below === 1 ? -0.01 : 0.5);
    const changed = eclipseSettingsOf(eclipseProfile('mini', { [k]: other }));
    for (const j of KEYS) assert.deepEqual(changed[j], j === k ? other : eclipseSettingsOf(eclipseProfile('mini'))[j], `override ${k}: ${j}`);
  }
  assert.throws(() => eclipseProfile('mini', { tStr: 5 }), /eclipse defence has no setting "tStr" \(did you mean tStar\?\)/);
  assert.throws(() => eclipseProfile('mini', { dropout: 1 }), /setting dropout must be < 1/);
});

test('the CLI flags are the table: each parses into its setting; its range is checked as flags are parsed; --help lists it', () => {
  for (const [k, spec] of Object.entries(ECLIPSE_SETTINGS)) {
    assert.ok(ECLIPSE_FLAGS[spec.flag], `--${spec.flag} is a flag`);
    const v = spec.kind === 'ints' ? '4,2' : spec.kind === 'number' ? '0.25' : k === 'trainMaxT' ? '200' : k === 'diffusionSteps' ? '300' : '3';
    const { flags } = parse([`--${spec.flag}`, v], ECLIPSE_FLAGS, 0);
    assert.deepEqual(eclipseSettingsOf(eclipseFrom(flags, 'paper'))[k as EclipseSettingKey], spec.kind === 'ints' ? [4, 2] : Number(v), `--${spec.flag} ${v}`);
  }
  // t* cannot exceed what the denoiser learns: the CLI says it with its flags
  assert.throws(() => eclipseFrom(parse(['--t-star', '150'], ECLIPSE_FLAGS, 0).flags, 'mini'), /--t-star 150 is above --train-max-t 100/);
  assert.throws(() => parse(['--dropout', '1'], ECLIPSE_FLAGS, 0), /--dropout must be at least 0 and below 1 \(got 1\)/);
  assert.throws(() => parse(['--channel-mult', '1,0'], ECLIPSE_FLAGS, 0), /--channel-mult must be comma-separated whole numbers, each at least 1/);
  // every ECLIPSE command lists the settings it takes (purify: purification's)
  const commands: [string[], string[]][] = [[['defend'], []], [['demo'], []], [['denoiser', 'train'], []], [['purify'], ['purify']]];
  for (const [cmd, parts] of commands) {
    const r = spawnSync(process.execPath, [bin, ...cmd, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const spec of Object.values(ECLIPSE_SETTINGS).filter((s) => parts.length === 0 || parts.includes(s.part))) {
      const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${spec.flag} `));
      assert.ok(line, `${cmd.join(' ')} --help lists --${spec.flag}`);
      assert.ok(line.includes(spec.help) && line.includes(`paper ${Array.isArray(spec.profiles.paper) ? spec.profiles.paper.join(',') : spec.profiles.paper}]`), line);
    }
  }
});

test('the matrix options and the report labels are the table; ECLIPSE is in the defence registry with it', () => {
  assert.equal(DEFENSES.eclipse.settings, ECLIPSE_SETTINGS);
  for (const [option, key] of Object.entries(ECLIPSE_MATRIX_KEYS)) {
    const spec: EclipseSettingSpec = ECLIPSE_SETTINGS[key];
    assert.ok(MATRIX_OPTIONS[option]?.help.includes(spec.help), `matrix option ${option}`);
    assert.equal(optionLabel(option), spec.label);
    // trainMaxT bounds t* (100 at mini): it is widened, the others set small
    const v = key === 'trainMaxT' ? 200 : (spec.profiles.mini as number) === 0 ? 1 : spec.kind === 'int' ? 2 : 0.1;
    const cell = resolveCell({ profile: 'mini', attack: 'ar', defense: 'eclipse', architecture: 'resnet18', seed: 0, options: { [option]: v } });
    assert.equal(eclipseSettingsOf(cell.eclipse!.profile)[key], v, `${option} sets ${key}`);
    assert.equal(optionValue(cell, option), v, `the report reads ${option} back`);
    // defense.<setting> is the same knob under its table name: one cell, one hash
    const same = resolveCell({ profile: 'mini', attack: 'ar', defense: 'eclipse', architecture: 'resnet18', seed: 0, options: { [`defense.${key}`]: v } });
    assert.equal(same.hash, cell.hash, `${option} and defense.${key} are one cell`);
  }
  assert.deepEqual(Object.keys(ECLIPSE_MATRIX_KEYS).sort(), ['B', 'M', 'iterations', 'p', 'respacedSteps', 'sigma', 'tStar', 'trainMaxT']);
  // the table's other settings are reachable as defense.<setting> on ECLIPSE cells only
  const cells = expandMatrix(parseMatrixConfig({ name: 't', profile: 'smoke', cleanTwins: false, groups: [{ attacks: ['ar'], defenses: ['eclipse'], sweep: { 'defense.channels': [8, 16] } }] }));
  assert.deepEqual(cells.map((c) => c.eclipse!.profile.denoiser.unet.modelChannels), [8, 16]);
  assert.throws(() => parseMatrixConfig({ name: 't', profile: 'smoke', groups: [{ attacks: ['ar'], defenses: ['cutout'], options: { tStar: 50 } }] }), /tStar is an ECLIPSE option; give it only to eclipse cells/);
});
