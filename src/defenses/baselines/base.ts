// The common part of every baseline: its settings table resolved against the profile and the
// caller's overrides (declared once, as the attacks' settings), and the cache of derived sets.
import { join } from 'node:path';

import { datasetDigest, type ImageDataset } from '../../data/dataset.js';
import { loadDataset, saveDataset } from '../../data/store.js';
import { stage } from '../../io/stage.js';
import type { ProfileName } from '../../profiles.js';
import { resolveSettings, settingsParams, type SettingOverrides, type SettingTable, type SettingValue, type Settings } from '../../settings.js';
import type { Defense, DefenseContext, DefensePlan } from './types.js';

export interface DefenseOptions {
  /** the scale profile of the settings (default 'paper') */
  profile?: ProfileName;
  /** overrides of the defence's settings table by key */
  settings?: SettingOverrides;
}

export abstract class BaselineDefense<T extends SettingTable> implements Defense {
  readonly settings: Settings<T>;
  readonly setting: string;
  readonly params: Readonly<Record<string, SettingValue>>;

  constructor(readonly name: string, table: T, o: DefenseOptions = {}) {
    const r = resolveSettings(`${name} defence`, table, o.profile ?? 'paper', o.settings);
    this.settings = r.values;
    this.setting = r.setting;
    this.params = settingsParams(r.values);
  }

  abstract plan(train: ImageDataset, ctx: DefenseContext): Promise<DefensePlan>;
}

/**
 * A dataset a defence derives once from the training set (ISS's JPEG copy, OP's projection),
 * cached in ctx.workDir/<name>-<digest of the input>.safetensors (one work folder can serve
 * several training sets) under the settings: a re-run loads it, a changed setting rebuilds it.
 */
export async function cachedDataset(
  ctx: DefenseContext,
  name: string,
  input: ImageDataset,
  params: Readonly<Record<string, SettingValue>>,
  build: () => Promise<ImageDataset>,
): Promise<ImageDataset> {
  const digest = datasetDigest(input);
  const id = `${name}-${digest.slice(0, 16)}`;
  const file = join(ctx.workDir, `${id}.safetensors`);
  await stage(ctx.workDir, id, { params, data: digest }, async () => saveDataset(await build(), file), ctx.log);
  return loadDataset(file);
}
