// The layer order of docs/architecture.md ("Layers"), kept true: every relative import in src/
// and bench/ points down the layers or stays in its own folder, and no file imports itself back
// through a chain of imports. The table is read from the doc, so the doc is the one place the
// order is written. Imports are found by TypeScript's own scanner (ts.preProcessFile): static,
// type-only, re-exports, side-effect and dynamic import() alike, never text in comments or strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DOC = 'docs/architecture.md';

/** One row's member: a folder (ends in '/', its sub-folders included) or one file. */
interface Unit {
  path: string;
  layer: number;
}

/** The "Layers" table of the doc: `| n | `path`, `path` | why |` rows, lowest layer first. */
function parseLayers(markdown: string): Unit[] {
  const at = markdown.indexOf('\n## Layers\n');
  if (at < 0) throw new Error(`${DOC} has no "## Layers" section`);
  const section = markdown.slice(at + 1).split(/\n## /)[0]!;
  const units: Unit[] = [];
  for (const line of section.split('\n')) {
    const row = /^\|\s*(\d+)\s*\|([^|]*)\|/.exec(line);
    if (!row) continue;
    for (const m of row[2]!.matchAll(/`([^`]+)`/g)) units.push({ path: m[1]!, layer: Number(row[1]) });
  }
  const seen = new Set<string>();
  for (const u of units) {
    if (seen.has(u.path)) throw new Error(`${DOC}: ${u.path} is in the layer table twice`);
    seen.add(u.path);
  }
  if (units.length === 0) throw new Error(`${DOC}: the "## Layers" section has no table rows`);
  return units;
}

/** The unit a repository path belongs to: the longest folder or the file that names it. */
function unitOf(units: Unit[], file: string): Unit | null {
  let best: Unit | null = null;
  for (const u of units) {
    const hit = u.path.endsWith('/') ? file.startsWith(u.path) : file === u.path;
    if (hit && (best === null || u.path.length > best.path.length)) best = u;
  }
  return best;
}

/** Repository paths of the files a source imports relatively (`./x.js` -> `dir/x.ts`). */
function relativeImports(file: string, source: string): { spec: string; target: string }[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith('./') || spec.startsWith('../'))
    .map((spec) => ({ spec, target: posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts') }));
}

/** Each strongly connected group of files, sorted, with one of its cycles as a chain a -> b -> a. */
function cycles(graph: Map<string, string[]>): { chain: string[]; group: string[] }[] {
  // Tarjan's strongly connected components; a group of two or more files (or a self-import) is a cycle
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) groups.push(group);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // name one concrete chain per group: the shortest way back from its first file (breadth first)
  return groups.map((group) => {
    const inGroup = new Set(group);
    const start = group.sort()[0]!;
    const from = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!inGroup.has(w)) continue;
        if (w === start) {
          const chain = [start];
          for (let u: string | undefined = v; u !== undefined && u !== start; u = from.get(u)) chain.splice(1, 0, u);
          return { chain: [...chain, start], group };
        }
        if (!from.has(w)) {
          from.set(w, v);
          queue.push(w);
        }
      }
    }
    return { chain: [...group, start], group }; // not reached: a group's first file lies on a cycle
  });
}

/** Every breach of the layer rule in a set of files (repository path -> source), one line each. */
function checkImports(units: Unit[], files: Map<string, string>): string[] {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  const where = (u: Unit): string => `layer ${u.layer} (${u.path})`;
  for (const [file, source] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const from = unitOf(units, file);
    if (from === null) {
      problems.push(`${file} is in no layer: add it or its folder to the "Layers" table of ${DOC}`);
      continue;
    }
    const edges: string[] = [];
    for (const { spec, target } of relativeImports(file, source)) {
      const to = unitOf(units, target);
      if (!files.has(target)) {
        if (to === null) problems.push(`${file} imports '${spec}' (${target}), which is outside every layer of ${DOC}`);
        continue; // a file not read here (not TypeScript, or missing: tsc reports that)
      }
      edges.push(target);
      if (to === null || to.path === from.path) continue;
      if (to.layer > from.layer) problems.push(`${file} imports '${spec}' (${target}): UP from ${where(from)} to ${where(to)}; a module imports only from its own folder or lower layers`);
      else if (to.layer === from.layer) problems.push(`${file} imports '${spec}' (${target}): SIDEWAYS between ${from.path} and ${to.path}, both in layer ${from.layer}; folders of one layer do not import each other`);
    }
    graph.set(file, edges);
  }
  for (const { chain, group } of cycles(graph)) {
    const more = group.length > chain.length - 1 ? ` (one of the cycles among ${group.join(', ')})` : '';
    problems.push(`import cycle (type-only imports count): ${chain.join(' -> ')}${more}`);
  }
  return problems;
}

function tsFiles(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  if (!existsSync(join(root, dir))) return out;
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory() && recursive) out.push(...tsFiles(path, true));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function readSources(): Map<string, string> {
  const paths = [...tsFiles('src', true), ...tsFiles('bench', false)];
  return new Map(paths.map((p) => [p, readFileSync(join(root, p), 'utf8')]));
}

test('every import in src/ and bench/ points down the layers of docs/architecture.md, with no cycles', () => {
  const units = parseLayers(readFileSync(join(root, DOC), 'utf8'));
  const files = readSources();
  assert.ok(files.size > 100, `read only ${files.size} files under ${root}`);
  const problems = checkImports(units, files);
  assert.deepEqual(problems, [], `\n${problems.length} breach(es) of the layer order (${DOC}, "Layers"):\n  ${problems.join('\n  ')}\n`);
});

test('every folder and file the layer table names exists', () => {
  const units = parseLayers(readFileSync(join(root, DOC), 'utf8'));
  const missing = units.filter((u) => !existsSync(join(root, u.path)));
  assert.deepEqual(missing.map((u) => u.path), [], `${DOC} names paths that do not exist`);
});

test('the check itself: an upward, a sideways and a circular import are each named', () => {
  const units = parseLayers(['# x', '', '## Layers', '| layer | members | why |', '| --- | --- | --- |', '| 1 | `src/io/`, `src/t.ts` | |', '| 2 | `src/cli/` | |', '', '## Next', '| 3 | `src/not-a-layer/` |'].join('\n'));
  assert.deepEqual(units, [{ path: 'src/io/', layer: 1 }, { path: 'src/t.ts', layer: 1 }, { path: 'src/cli/', layer: 2 }]);
  const files = new Map([
    // a comment or a string that looks like an import is not one
    ['src/io/a.ts', "// import { no } from '../cli/comment.js';\nconst s = \"from '../cli/string.js'\";\nexport const a = (): Promise<unknown> => import('../cli/main.js');"],
    ['src/io/b.ts', "import type { C } from './c.js';\nexport type B = C;"],
    ['src/io/c.ts', "export type { B as C } from './b.js';"],
    ['src/t.ts', "import './io/b.js';"],
    ['src/cli/main.ts', "import { a } from '../io/a.js';"],
    ['src/other/x.ts', ''],
  ]);
  assert.deepEqual(checkImports(units, files), [
    `src/io/a.ts imports '../cli/main.js' (src/cli/main.ts): UP from layer 1 (src/io/) to layer 2 (src/cli/); a module imports only from its own folder or lower layers`,
    `src/other/x.ts is in no layer: add it or its folder to the "Layers" table of ${DOC}`,
    `src/t.ts imports './io/b.js' (src/io/b.ts): SIDEWAYS between src/t.ts and src/io/, both in layer 1; folders of one layer do not import each other`,
    'import cycle (type-only imports count): src/cli/main.ts -> src/io/a.ts -> src/cli/main.ts',
    'import cycle (type-only imports count): src/io/b.ts -> src/io/c.ts -> src/io/b.ts',
  ]);
});
