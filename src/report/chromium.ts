// Where a headless Chromium for checking report pages is found: $ECLIPSE_CHROMIUM, then Debian's
// (npm run setup installs it). playwright-core drives it; nothing is downloaded.
import { existsSync } from 'node:fs';

export function chromiumCandidates(): string[] {
  return [process.env.ECLIPSE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/usr/bin/google-chrome'].filter((p): p is string => !!p);
}

/** The first Chromium binary present, or null. */
export function findChromium(): string | null {
  return chromiumCandidates().find((p) => existsSync(p)) ?? null;
}

/** Why no Chromium was found, with the fix. */
export function noChromiumReason(): string {
  return `no Chromium binary (looked for ${chromiumCandidates().join(', ')}): npm run setup installs Debian's chromium, or set ECLIPSE_CHROMIUM`;
}
