// The report's tables: Table 1 (test accuracy, attack x defence, per architecture), Table 3
// (clean accuracy), Table 4 (ECLIPSE's parts), the table of every finished cell, and the
// per-variant CSV.
import { DEFENSES, ECLIPSE, isDefenseName } from '../defenses/registry.js';
import { attackOrder } from './figures.js';
import { DASH, archOrder, avgText, defenseOrder, fmt, paperText, profileSentence, rowAverage, runsCell, statCell } from './format.js';
import type { ReportTable } from './model.js';
import {
  ABLATION_ROWS, AVG_ATTACKS, BEYOND_MARK, BEYOND_NOTE, attackHead, defenseHead, isBeyondAttack, isBeyondDefense, PAPER_ATTACKS, archLabel, attackLabel, defenseLabel, paperAblationAvg, paperAverage, paperCleanAcc, paperTable1Defenses, paperTestAcc,
} from './paper.js';
import { ablationOf, defaultValue, optionValue, stat, type ReportCell, type ResultSet, type Stat } from './results.js';

/** The swept options of a defence's cells and the values its main cells have. */
function variantNote(rs: ResultSet, arch: string, defenses: readonly string[], attacks: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of defenses) {
    const axes = new Map<string, Set<string>>();
    const offDefault = new Set<string>();
    for (const a of attacks) {
      const probe = (rs.groups.get(`${arch}|${d}|${a}`) ?? []).find((c) => c.cell)?.cell;
      for (const ax of rs.axesFor(arch, d, a)) {
        const s = axes.get(ax.key) ?? new Set<string>();
        s.add(String(ax.main));
        axes.set(ax.key, s);
        if (probe && JSON.stringify(defaultValue(probe, ax.key) ?? null) !== JSON.stringify(ax.main ?? null)) offDefault.add(ax.key);
      }
    }
    if (axes.size === 0) continue;
    out.push(
      `${defenseLabel(d)}: swept options at ${[...axes].map(([k, v]) => `${k} = ${[...v].join('/')}`).join(', ')}` +
        (offDefault.size ? ` (${[...offDefault].join(', ')} not at the profile's value: the variant nearest to it that ran)` : " (the profile's values)") +
        `; the other values are in ${isDefenseName(d) && DEFENSES[d].runs === 'stages' ? 'the sweep plots and Table 4' : 'results.csv and the cell list'}.`,
    );
  }
  return out;
}

// ------------------------------------------------------------------------------------------ Table 1

/**
 * The paper's qualified defences (Table 1): a defence under 50% test accuracy on any attack is
 * "unqualified". A smaller profile trains weaker victims, so the line is rescaled by our clean
 * accuracy over the paper's (both without defence): it keeps its meaning, about half of what
 * clean training gives. Null without a clean no-defence cell or a paper number to scale by.
 */
export function qualifiedLine(rs: ResultSet, arch: string): { line: number; clean: number; paperClean: number } | null {
  const clean = stat(rs.main(arch, 'none', 'clean'));
  const paper = paperCleanAcc(arch, 'none');
  return clean && paper ? { line: (50 * clean.mean) / paper.value, clean: clean.mean, paperClean: paper.value } : null;
}

export function table1(rs: ResultSet, arch: string): ReportTable {
  const cellsOfArch = rs.cells.filter((c) => c.architecture === arch && c.attack !== 'clean');
  const attacksHere = new Set(cellsOfArch.map((c) => c.attack));
  const attackCols = [...PAPER_ATTACKS, ...attackOrder(attacksHere).filter((a) => !(PAPER_ATTACKS as readonly string[]).includes(a))];
  const avgSet = AVG_ATTACKS.filter((a) => attacksHere.has(a));
  const paperRows = paperTable1Defenses(arch);
  const paperCol = paperRows.length > 0;
  const defenses = defenseOrder([...paperRows, ...cellsOfArch.map((c) => c.defense)]);
  const used: ReportCell[] = [];
  const statsOf = new Map(
    defenses.map((d) => [
      d,
      attackCols.map((a) => {
        const cells = rs.main(arch, d, a);
        used.push(...cells);
        return stat(cells);
      }),
    ]),
  );
  // Qualified (see qualifiedLine) among the defences with numbers, judged on the means; the best
  // of them per attack is bold, as in the paper, the second-best italic.
  const q = qualifiedLine(rs, arch);
  const statOf = (d: string, i: number): Stat | null => statsOf.get(d)![i] ?? null;
  const meanOf = (d: string, i: number): number | null => statOf(d, i)?.mean ?? null;
  const withNumbers = defenses.filter((d) => d !== 'none' && statsOf.get(d)!.some((x) => x !== null));
  // the attacks (column indices) that take each defence under the line
  const failing = new Map(withNumbers.map((d) => [d, q ? attackCols.map((_, i) => i).filter((i) => (meanOf(d, i) ?? Infinity) < q.line) : []]));
  const qualified = q ? withNumbers.filter((d) => failing.get(d)!.length === 0) : [];
  // the defences of a set with a number on attack i, best first
  const rankOn = (set: readonly string[], i: number): string[] => set.filter((d) => meanOf(d, i) !== null).sort((a, b) => meanOf(b, i)! - meanOf(a, i)!);
  // a defence with the attacks that take it under the line, e.g. "ISS-J (CUDA 26.1)"
  const failText = (d: string): string => `${defenseLabel(d)} (${failing.get(d)!.map((i) => `${attackLabel(attackCols[i]!)} ${fmt(meanOf(d, i)!)}`).join(', ')})`;
  const ranked = attackCols.map((_, i) => rankOn(qualified, i));
  const bestOf = ranked.map((r) => r[0] ?? null);
  const secondOf = ranked.map((r) => r[1] ?? null);
  // the best's and the second's stats per attack, null where there is no second
  const pairOf = attackCols.map((_, i) => {
    const b = bestOf[i] ? statOf(bestOf[i]!, i) : null;
    const s = secondOf[i] ? statOf(secondOf[i]!, i) : null;
    return b !== null && s !== null ? { b, s } : null;
  });
  // where their ranges [min, max] over their runs overlap, the spread does not support their order
  const overlaps = pairOf.map((p) => p !== null && p.b.min <= p.s.max && p.s.min <= p.b.max);
  // averaged over different poison draws: the draw moves a result as much as a defence does
  // (issue 28), so their means are not like for like
  const drawsDiffer = pairOf.map((p) => p !== null && p.b.poisonSeeds.join(',') !== p.s.poisonSeeds.join(','));
  const drawsText = (d: string, i: number): string => {
    const seeds = statOf(d, i)!.poisonSeeds;
    return `${defenseLabel(d)} over poison seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}`;
  };
  const marks = attackCols.map((_, i) => [overlaps[i] ? '≈' : '', drawsDiffer[i] ? '≠' : ''].filter(Boolean).join(' '));
  const rangeText = (s: Stat): string => `[${fmt(s.min)}, ${fmt(s.max)}]`;
  // a defence whose range over runs reaches across the line on an attack: its verdict there rests on the draw
  const crossing = q
    ? withNumbers.flatMap((d) =>
        attackCols.flatMap((_, i) => {
          const s = statOf(d, i);
          return s && s.min < q.line && s.max >= q.line ? [{ d, i, s }] : [];
        }),
      )
    : [];
  let partial = false;
  const rows = defenses.map((d) => {
    const stats = statsOf.get(d)!;
    const cells = attackCols.map((a, i) => {
      const c = statCell(stats[i]!, paperTestAcc(arch, d, a), paperCol);
      const ranks = bestOf[i] === d || secondOf[i] === d;
      const other = bestOf[i] === d ? secondOf[i] : bestOf[i];
      const cross = crossing.find((x) => x.d === d && x.i === i);
      const notes = [
        ...(ranks && overlaps[i] ? [`≈: its range ${rangeText(stats[i]!)} overlaps ${defenseLabel(other!)}'s ${rangeText(statOf(other!, i)!)}: the spread does not support their order`] : []),
        ...(ranks && drawsDiffer[i] ? [`≠: ${drawsText(d, i)}, ${drawsText(other!, i)}: not the same draws, so the means are not like for like`] : []),
        ...(cross && q ? [`its range ${rangeText(cross.s)} crosses the qualification line ${fmt(q.line)}%`] : []),
      ];
      return {
        ...c,
        ...(notes.length ? { title: [c.title, ...notes].filter((t) => t !== undefined).join('; ') } : {}),
        ...(bestOf[i] === d ? { best: true } : {}),
        ...(secondOf[i] === d ? { second: true } : {}),
        ...(ranks && marks[i] ? { mark: marks[i] } : {}),
      };
    });
    // AVG: over the non-adaptive attacks present in this table; * = the row has fewer of them
    const r = rowAverage(avgSet, (a) => stats[attackCols.indexOf(a)]);
    partial ||= r.partial;
    const pAvg = paperCol ? paperAverage(r.over.map((a) => paperTestAcc(arch, d, a))) : null;
    cells.push({
      ours: avgText(r),
      ...(paperCol ? { paper: paperText(pAvg) ?? DASH } : {}),
      title: `average over ${r.over.map(attackLabel).join(', ')}`,
      ...(r.avg !== null ? { has: true } : {}),
    });
    return { head: defenseHead(d), cells: [runsCell(stats), ...cells] };
  });
  const standing: string[] = [];
  if (q && withNumbers.length) {
    const unq = withNumbers.filter((d) => !qualified.includes(d));
    standing.push(
      `Qualified defences, by the paper's rule (under 50% on any attack is unqualified, judged on the means) with the line rescaled to this profile: ${fmt(q.line)}% = 50 x ${fmt(q.clean)} / ${fmt(q.paperClean, 2)} (clean accuracy without defence, ours / the paper's): ` +
        `${qualified.length ? qualified.map(defenseLabel).join(', ') : 'none'}` +
        (unq.length ? `; not qualified: ${unq.map(failText).join(', ')}` : '') +
        '. A row missing attacks is judged on those it has.',
    );
    // The paper judges on its own attacks; where the ‡ attacks change who qualifies, say who
    // qualifies on the paper's alone and who is best there, so its Table 1 stays comparable.
    const paperIdx = attackCols.map((_, i) => i).filter((i) => !isBeyondAttack(attackCols[i]!));
    const onPaper = withNumbers.filter((d) => failing.get(d)!.every((i) => !paperIdx.includes(i)) && paperIdx.some((i) => meanOf(d, i) !== null));
    const takenOut = onPaper.filter((d) => !qualified.includes(d));
    if (takenOut.length) {
      const bestOnPaper = paperIdx.flatMap((i) => {
        const b = rankOn(onPaper, i)[0];
        return b ? [`${attackLabel(attackCols[i]!)} ${defenseLabel(b)} ${fmt(meanOf(b, i)!)}`] : [];
      });
      standing.push(
        `On the paper's attacks alone (as its Table 1 judges), qualified: ${onPaper.map(defenseLabel).join(', ')}; the ${BEYOND_MARK} attacks take out ` +
          `${takenOut.map(failText).join(', ')}. ` +
          `Best qualified per paper attack by that rule: ${bestOnPaper.join('; ')}.`,
      );
    }
    if (crossing.length)
      standing.push(
        `Ranges [min, max] over runs that cross the line (${fmt(q.line)}%), so that another draw could change the verdict: ` +
          crossing
            .map((x) => `${defenseLabel(x.d)} on ${attackLabel(attackCols[x.i]!)} ${rangeText(x.s)}, mean ${fmt(x.s.mean)} (${qualified.includes(x.d) ? 'qualified' : 'not qualified'})`)
            .join('; ') + '.',
      );
    const judged = attackCols.map((_, i) => i).filter((i) => bestOf[i] !== null);
    if (judged.length) {
      const eclWins = judged.filter((i) => bestOf[i] === ECLIPSE).map((i) => attackLabel(attackCols[i]!));
      let eclipse = '';
      if (qualified.includes(ECLIPSE)) eclipse = `ECLIPSE is the best qualified defence on ${eclWins.length} of ${judged.length} attacks${eclWins.length ? ` (${eclWins.join(', ')})` : ''}.`;
      else if (withNumbers.includes(ECLIPSE)) eclipse = 'ECLIPSE itself is not qualified here.';
      const entry = (i: number): string => {
        const second = secondOf[i];
        return `${attackLabel(attackCols[i]!)} ${defenseLabel(bestOf[i]!)} ${fmt(meanOf(bestOf[i]!, i)!)}` + (second ? ` (second, italic: ${defenseLabel(second)} ${fmt(meanOf(second, i)!)}${marks[i] ? ` ${marks[i]}` : ''})` : '');
      };
      standing.push(`Best qualified defence per attack (bold): ${judged.map(entry).join('; ')}. ${eclipse}`);
      const pairs = judged.filter((i) => secondOf[i] !== null);
      const over = pairs.filter((i) => overlaps[i]);
      if (over.length)
        standing.push(
          `≈ marks a best and second-best whose ranges [min, max] over their runs overlap: the spread does not support that order (${over
            .map((i) => `${attackLabel(attackCols[i]!)}: ${defenseLabel(bestOf[i]!)} ${rangeText(statOf(bestOf[i]!, i)!)} vs ${defenseLabel(secondOf[i]!)} ${rangeText(statOf(secondOf[i]!, i)!)}`)
            .join('; ')}).`,
        );
      const apart = pairs.filter((i) => drawsDiffer[i]);
      if (apart.length)
        standing.push(
          `≠ marks a best and second-best averaged over different poison draws, so that their order may be the draws' rather than the defences' (${apart
            .map((i) => `${attackLabel(attackCols[i]!)}: ${drawsText(bestOf[i]!, i)}; ${drawsText(secondOf[i]!, i)}`)
            .join('; ')}); run both on the same poison seeds to compare them.`,
        );
      if (!over.length && pairs.some((i) => statOf(bestOf[i]!, i)!.n > 1 || statOf(secondOf[i]!, i)!.n > 1))
        standing.push('On every attack with a second-best, the best\'s range [min, max] over its runs lies above the second\'s: the spread supports each order.');
    }
  }
  const missingAttacks = AVG_ATTACKS.concat('adp').filter((a) => !attacksHere.has(a));
  const missingDefenses = paperRows.filter((d) => !cellsOfArch.some((c) => c.defense === d));
  const notes = [
    profileSentence(used),
    `Mean test accuracy (%) over runs${paperCol ? `; in brackets the paper's number (${archLabel(arch)}, Table 1)` : ''}. A cell of n > 1 runs reads "mean ±sd" (the sample standard deviation; ` +
      'its tooltip gives n, min–max and the seeds per axis: classifier, poison, defence). "seeds": how many runs each of the row\'s cells averages, and over which seed axes (the tooltip lists the seeds).',
    `AVG: the mean over the non-adaptive attacks present in this table (${avgSet.length ? avgSet.map(attackLabel).join(', ') : 'none yet'}), ADP excluded as in the paper's 8-attack average${partial ? '; * = over fewer attacks (the row misses some)' : ''}.`,
    ...standing,
    ...variantNote(rs, arch, defenses, [...attacksHere]),
    ...(attackCols.some(isBeyondAttack) || defenses.some(isBeyondDefense) ? [BEYOND_NOTE] : []),
  ];
  if (missingAttacks.length || missingDefenses.length)
    notes.push(
      `Missing (no finished cell): ${[missingAttacks.length ? `attacks ${missingAttacks.map(attackLabel).join(', ')}` : '', missingDefenses.length ? `defences ${missingDefenses.map(defenseLabel).join(', ')}` : ''].filter(Boolean).join('; ')}.`,
    );
  return {
    id: `table1-${arch}`,
    title: `Table 1 (${archLabel(arch)}): test accuracy (%) per attack and defence`,
    columns: ['defence', 'seeds', ...attackCols.map(attackHead), 'AVG'],
    rows,
    notes,
  };
}

// ------------------------------------------------------------------------------------------ Table 3

export function table3(rs: ResultSet): ReportTable {
  const clean = rs.cells.filter((c) => c.attack === 'clean');
  const archs = archOrder(clean.length ? clean.map((c) => c.architecture) : ['resnet18']);
  const defenses = defenseOrder([...clean.map((c) => c.defense), 'none', 'at', 'iss-j', ECLIPSE]);
  const used: ReportCell[] = [];
  const rows = defenses.map((d) => ({
    head: defenseHead(d),
    cells: archs.map((a) => {
      const cells = rs.main(a, d, 'clean');
      used.push(...cells);
      return statCell(stat(cells), paperCleanAcc(a, d));
    }),
  }));
  const notes = [
    profileSentence(used),
    'Clean accuracy: the defence applied to the unpoisoned training set (the matrix\'s "clean" cells), mean over runs ("mean ±sd" where n > 1; the tooltip gives n, min–max and the seeds); in brackets the paper\'s Table 3.',
    ...variantNote(rs, archs[0]!, defenses, ['clean']),
    ...(defenses.some(isBeyondDefense) ? [BEYOND_NOTE] : []),
  ];
  if (clean.length === 0) notes.push('Missing: no clean cell has finished (the matrix adds them unless cleanTwins is false).');
  return { id: 'table3', title: 'Table 3: clean accuracy (%) per architecture and defence', columns: ['defence', ...archs.map(archLabel)], rows, notes };
}

// ------------------------------------------------------------------------------------------ Table 4

export function table4(rs: ResultSet, arch: string): ReportTable {
  const ecl = rs.cells.filter((c) => c.architecture === arch && c.defense === ECLIPSE && c.attack !== 'clean' && c.attack !== 'adp');
  const attacks = attackOrder(ecl.map((c) => c.attack));
  // AVG over the paper's non-adaptive attacks only, as beside it the paper's average and as in Table 1
  const avgSet = attacks.filter((a) => AVG_ATTACKS.includes(a));
  const paperCol = arch === 'resnet18';
  // the clean-data twin of each row: what the parts cost where there is no poison
  const cleanOf = (ab: string): ReportCell[] => rs.main(arch, ECLIPSE, 'clean', ['ablation']).filter((c) => c.cell && ablationOf(c.cell) === ab);
  const hasClean = ABLATION_ROWS.some((ab) => cleanOf(ab).length > 0);
  let partial = false;
  const used: ReportCell[] = [];
  const rows = ABLATION_ROWS.map((ab) => {
    const stats = attacks.map((a) => {
      const cells = rs.main(arch, ECLIPSE, a, ['ablation']).filter((c) => c.cell && ablationOf(c.cell) === ab);
      used.push(...cells);
      return stat(cells);
    });
    const r = rowAverage(avgSet, (a) => stats[attacks.indexOf(a)]);
    partial ||= r.partial;
    return {
      head: ab.split('').join('+'),
      cells: [
        ...stats.map((s) => statCell(s, null, false)),
        { ours: avgText(r), ...(paperCol ? { paper: paperText(paperAblationAvg(ab)) ?? DASH } : {}), ...(r.avg !== null ? { has: true } : {}) },
        ...(hasClean ? [statCell(stat(cleanOf(ab)), null, false)] : []),
      ],
    };
  });
  const notes = [
    profileSentence(used),
    'ECLIPSE with some of its parts: A diffusion purification, B random grayscale, C Gaussian noise (option "ablation"; A+B+C is the full defence), other options at their main values; mean over runs ("mean ±sd" where n > 1); AVG over the paper\'s non-adaptive attacks of the row' +
      (paperCol ? ", beside it the paper's Table 4 average over its eight attacks" : '') + (partial ? '; * = the row misses some attacks' : '') +
      (hasClean ? '; clean: the clean-data twin of the row (the paper has no such column).' : '.'),
    ...(attacks.some(isBeyondAttack) ? [BEYOND_NOTE] : []),
  ];
  const missing = ABLATION_ROWS.filter((_, i) => !rows[i]!.cells.some((c) => c.has));
  if (missing.length) notes.push(`Missing: ${missing.map((m) => m.split('').join('+')).join(', ')} (no finished ECLIPSE cell with that ablation).`);
  return { id: `table4-${arch}`, title: `Table 4 (${archLabel(arch)}): ECLIPSE's parts, test accuracy (%)`, columns: ['parts', ...attacks.map(attackHead), 'AVG', ...(hasClean ? ['clean'] : [])], rows, notes };
}

// ------------------------------------------------------------------------------------------ CSV

const csvField = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * One line per architecture x defence x attack x variant (the swept options' values; cells that
 * differ only by their seeds are runs of one variant: n of them, the sample sd, min and max).
 */
export function summaryCsv(rs: ResultSet): string {
  // n and the sample sd (test_acc_std) were there before; min, max and the poison and defence
  // seeds are appended, so the older columns keep their places
  const cols = [
    'architecture', 'defense', 'attack', 'variant', 'main', 'profile', 'n', 'seeds', 'test_acc_mean', 'test_acc_std', 'clean_acc_mean', 'paper_test_acc', 'paper_decoded', 'hashes',
    'test_acc_min', 'test_acc_max', 'poison_seeds', 'defense_seeds',
  ];
  const lines = [cols.join(',')];
  for (const [k, cells] of rs.groups) {
    const [arch, d, a] = k.split('|') as [string, string, string];
    const axes = rs.axes.get(k) ?? [];
    const variants = new Map<string, ReportCell[]>();
    for (const c of cells) {
      const v = axes.map((x) => `${x.key}=${c.cell ? String(optionValue(c.cell, x.key)) : '?'}`).join(' ');
      variants.set(v, [...(variants.get(v) ?? []), c]);
    }
    for (const [v, vc] of variants) {
      const s = stat(vc);
      if (!s) continue;
      const cl = stat(vc, (c) => c.cleanAcc);
      const p = a === 'clean' ? paperCleanAcc(arch, d) : paperTestAcc(arch, d, a);
      const main = vc.every((c) => rs.isMain(c));
      lines.push(
        [arch, d, a, v, main ? 1 : 0, s.profiles.join(' '), s.n, s.seeds.join(' '), fmt(s.mean, 2), fmt(s.std, 2), cl ? fmt(cl.mean, 2) : '', main && p ? p.value : '', main && p ? Number(p.decoded) : '', s.hashes.join(' '),
          fmt(s.min, 2), fmt(s.max, 2), s.poisonSeeds.join(' '), s.defenseSeeds.join(' ')]
          .map(csvField)
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------ every cell

export function cellTable(rs: ResultSet): ReportTable {
  const rank = (order: readonly string[], x: string): number => (order.indexOf(x) + 1 || order.length + 1);
  const archs = archOrder(rs.architectures);
  const defs = defenseOrder(rs.cells.map((c) => c.defense));
  const atts = ['clean', ...attackOrder(rs.cells.map((c) => c.attack))];
  const cells = [...rs.cells].sort(
    (a, b) =>
      rank(archs, a.architecture) - rank(archs, b.architecture) || rank(defs, a.defense) - rank(defs, b.defense) || rank(atts, a.attack) - rank(atts, b.attack) || a.label.localeCompare(b.label),
  );
  return {
    id: 'cells-table',
    title: 'Every finished cell',
    columns: ['cell', 'test acc. (%)', 'clean acc. (%)', 'minutes', 'main', 'hash'],
    rows: cells.map((c) => ({
      head: c.label,
      cells: [
        { ours: fmt(100 * c.testAcc, 2), has: true },
        { ours: c.attack === 'clean' ? '(clean)' : c.cleanAcc === null ? DASH : fmt(100 * c.cleanAcc, 2), has: c.cleanAcc !== null },
        { ours: fmt(c.seconds / 60, 1), has: true },
        { ours: rs.isMain(c) ? 'yes' : 'sweep', has: true },
        { ours: c.hash, has: true },
      ],
    })),
    notes: ['"main": the cell counts in Tables 1 and 3 (every swept option at its main value); the others appear in the sweep plots and Table 4.'],
  };
}
