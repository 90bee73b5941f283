// Preloaded (node --import) into a command the bad-input suite runs: on exit, writes the
// process's peak resident memory (KiB) to $ECLIPSE_MAXRSS_FILE, so a row can bound it.
import { writeFileSync } from 'node:fs';

const file = process.env.ECLIPSE_MAXRSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
