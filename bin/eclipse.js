#!/usr/bin/env node
// Entry point: checks the Node.js line, then runs the compiled CLI (npm run build), or says how
// to build it. A native engine that fails to load is reported in one line, not a stack trace.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Maintained LTS lines (package.json "engines"). Node 20 reached end of life on 2026-04-30: it
// still runs (CI tests it as the machines' own Node) but is not supported; older ones are refused.
const major = Number(process.versions.node.split('.')[0]);
const fix = 'install Node.js 22 or 24 (for example `npx -p node@24 node bin/eclipse.js ...`)';
if (major < 20) {
  console.error(`eclipse: Node.js ${process.version} is not supported (eclipse needs 22 or 24): ${fix}`);
  process.exit(1);
} else if (major < 22 && !process.env.ECLIPSE_QUIET_NODE_WARNING) {
  console.error(`eclipse: warning: Node.js ${process.version} is past end of life and not supported: ${fix}`);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  console.error('eclipse is not built yet: run `npm run setup` in ' + root);
  process.exit(1);
}
let main;
try {
  ({ main } = await import(pathToFileURL(entry).href));
} catch (e) {
  console.error(`eclipse: ${e instanceof Error ? e.message : String(e)}`);
  if (process.env.ECLIPSE_DEBUG) console.error(e);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
