// ECLIPSE's own flags (the sparse set, the denoiser, purification, compensation) and the small
// helpers the ECLIPSE commands (poison, denoiser train, purify, defend, demo) share.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { ECLIPSE_SETTINGS, eclipseProfile, type EclipseProfile, type EclipseSettingSpec } from '../eclipse-settings.js';
import type { ProfileName } from '../profiles.js';
import { parseSettingValue, settingRange, settingsHelp, type SettingOverrides, type SettingValue } from '../settings.js';
import { UsageError, str, type Flags, type OptionDef } from './args.js';
import { defaultDataDir } from './data.js';

export const log = (quiet: boolean) => (m: string): void => {
  if (!quiet) console.error(m);
};

/** A dataset flag's file: the one given, else the profile's CIFAR-10 import, which must be there. */
export function dataFile(f: Flags, flag: string, profile: ProfileName, name: string): string {
  const given = str(f, flag);
  if (given !== undefined) return given;
  const file = join(defaultDataDir(profile), name);
  if (!existsSync(file)) throw new UsageError(`${file} not found: run eclipse data import --profile ${profile} first, or pass --${flag} FILE`);
  return file;
}

/** ECLIPSE's flags, from its settings table (each checked against its range as flags are parsed). */
export const ECLIPSE_FLAGS: Readonly<Record<string, OptionDef>> = {
  ...Object.fromEntries(Object.values(ECLIPSE_SETTINGS).map((s: EclipseSettingSpec) => [s.flag, { type: 'string', range: settingRange(s) }])),
  force: { type: 'boolean' },
};

const PART_TITLES: Readonly<Record<EclipseSettingSpec['part'], string>> = {
  sparse: 'the sparse set',
  denoiser: 'the denoiser',
  purify: 'purification',
  compensation: 'the compensation module',
};

/** ECLIPSE's settings in --help, by part (all parts, or the ones given), each with its value at every profile. */
export function eclipseHelp(parts: readonly EclipseSettingSpec['part'][] = Object.keys(PART_TITLES) as EclipseSettingSpec['part'][]): string {
  return parts
    .flatMap((part) => [`  ${PART_TITLES[part]}:`, ...settingsHelp(Object.fromEntries(Object.entries(ECLIPSE_SETTINGS).filter(([, s]) => s.part === part)), '    ')])
    .join('\n');
}

export const ECLIPSE_HELP = [
  'ECLIPSE settings (each flag overrides the profile; paper = the published recipe):',
  eclipseHelp(),
  '  --force                    use a sparse set even if it overlaps the training set',
].join('\n');

/** The ECLIPSE settings the flags give, by setting key. */
export function eclipseOverrides(f: Flags): SettingOverrides {
  const out: Record<string, SettingValue> = {};
  for (const [key, spec] of Object.entries(ECLIPSE_SETTINGS) as [string, EclipseSettingSpec][]) {
    const text = str(f, spec.flag);
    if (text !== undefined) out[key] = parseSettingValue(spec, text);
  }
  return out;
}

/** The compensation module's p and sigma: the flags', else the profile's. */
export function compensationFrom(f: Flags, profile: ProfileName): { p: number; sigma: number } {
  const { p, sigma } = eclipseOverrides(f);
  return eclipseProfile(profile, { p, sigma }).compensation;
}

/** The profile's ECLIPSE recipe with the flags applied; t* checked against the denoiser's steps. */
export function eclipseFrom(f: Flags, profile: ProfileName): EclipseProfile {
  const e = eclipseProfile(profile, eclipseOverrides(f));
  const d = e.denoiser;
  if (e.purify.tStar > d.steps) throw new UsageError(`--t-star must be in [1, ${d.steps}] (the diffusion steps T), got ${e.purify.tStar}`);
  if (d.trainMaxT > 0 && e.purify.tStar > d.trainMaxT)
    throw new UsageError(`--t-star ${e.purify.tStar} is above --train-max-t ${d.trainMaxT}: the denoiser would never have seen those steps`);
  return e;
}
