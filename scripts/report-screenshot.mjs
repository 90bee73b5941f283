#!/usr/bin/env node
// A full-page screenshot of an `eclipse report` page in headless Chromium (found as the report
// test finds it; nothing is downloaded), with what rendered: tables, plots, images.
//   node scripts/report-screenshot.mjs REPORT.html OUT.png
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { findChromium, noChromiumReason } from '../dist/src/report/chromium.js';

const [html, png] = process.argv.slice(2);
if (!html || !png) {
  console.error('usage: node scripts/report-screenshot.mjs REPORT.html OUT.png');
  process.exit(2);
}
const executablePath = findChromium();
if (!executablePath) {
  console.error(noChromiumReason());
  process.exit(1);
}
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'], timeout: 60_000 });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(resolve(html)).href, { waitUntil: 'load' });
  const count = async (sel) => {
    let sized = 0;
    const all = await page.locator(sel).all();
    for (const el of all) {
      const box = await el.boundingBox();
      if (box && box.width > 0 && box.height > 0) sized++;
    }
    return `${sized}/${all.length}`;
  };
  const summary = { tables: await count('table'), plots: await count('svg'), images: await count('img') };
  await page.screenshot({ path: png, fullPage: true });
  console.log(`${png}: rendered with a size (of all): tables ${summary.tables}, plots ${summary.plots}, images ${summary.images}${errors.length ? `; page errors: ${errors.join('; ')}` : ''}`);
  if (errors.length) process.exitCode = 1;
} finally {
  await browser.close();
}
