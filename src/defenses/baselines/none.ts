// No defence: the victim's plain training run (the paper's w/o column).
import type { ImageDataset } from '../../data/dataset.js';
import { BaselineDefense, type DefenseOptions } from './base.js';
import type { DefenseContext, DefensePlan } from './types.js';

/** No defence: the victim's plain training run (the w/o column). */
export class NoDefense extends BaselineDefense<Record<string, never>> {
  constructor(o: DefenseOptions = {}) {
    super('none', {}, o);
  }
  async plan(train: ImageDataset, _ctx: DefenseContext): Promise<DefensePlan> {
    return { train, notes: {} };
  }
}
