// CLI flags built from settings tables (src/settings.ts): one table per attack or defence gives
// the flags, their parsing and checking, and the help lines.
import { checkSetting, parseSettingValue, settingsHelp, type SettingOverrides, type SettingSpec, type SettingTable, type SettingValue } from '../settings.js';
import { UsageError, str, type Flags, type OptionDef } from './args.js';

/** Each owner's table (attacks or defences by name); owners without settings map to undefined. */
export type SettingTables = Readonly<Record<string, SettingTable | undefined>>;

/** Every table's flags (one flag may serve several owners). Parsing refuses a value no owner
 * takes (before any work); the chosen owner's own range is checked by overridesFrom. */
export function tableFlags(tables: SettingTables): Record<string, OptionDef> {
  const specs = new Map<string, SettingSpec[]>();
  for (const t of Object.values(tables)) for (const spec of Object.values(t ?? {})) specs.set(spec.flag, [...(specs.get(spec.flag) ?? []), spec]);
  const out: Record<string, OptionDef> = {};
  for (const [flag, all] of specs) {
    const check = (v: string): string | null => {
      const errors = all.map((s) => checkSetting(s, parseSettingValue(s, v)));
      return errors.includes(null) ? null : errors[0]!;
    };
    out[flag] = { type: 'string', range: null, check };
  }
  return out;
}

/** The settings the user gave for `owner`; a settings flag of another owner is an error. */
export function overridesFrom(flags: Flags, owner: string, tables: SettingTables): SettingOverrides {
  const table = tables[owner] ?? {};
  const mine = new Set(Object.values(table).map((s) => s.flag));
  for (const flag of Object.keys(tableFlags(tables)))
    if (flags[flag] !== undefined && !mine.has(flag)) {
      const owners = Object.keys(tables).filter((a) => Object.values(tables[a] ?? {}).some((s) => s.flag === flag));
      throw new UsageError(`--${flag} does not apply to ${owner} (only to ${owners.join(', ')})`);
    }
  const out: Record<string, SettingValue> = {};
  for (const [key, spec] of Object.entries(table)) {
    const v = str(flags, spec.flag);
    if (v === undefined) continue;
    const value = parseSettingValue(spec, v);
    const bad = checkSetting(spec, value);
    if (bad !== null) throw new UsageError(`--${spec.flag} ${bad}`);
    out[key] = value;
  }
  return out;
}

/** Help lines of every owner that has settings. */
export function tablesHelp(tables: SettingTables): string {
  return Object.keys(tables)
    .filter((a) => Object.keys(tables[a] ?? {}).length > 0)
    .map((a) => `  ${a}:\n${settingsHelp(tables[a]!, '    ').join('\n')}`)
    .join('\n');
}
