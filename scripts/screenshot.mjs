#!/usr/bin/env node
// The pictures in docs/: an HTML report as headless Chromium draws it.
//   node scripts/screenshot.mjs report.html docs/picture.png [width]
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const [input, output, width = '1200'] = process.argv.slice(2);
if (input === undefined || output === undefined) {
  process.stderr.write('usage: node scripts/screenshot.mjs REPORT.html OUT.png [width]\n');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: Number(width), height: 900 } });
  await page.goto(pathToFileURL(resolve(input)).href, { waitUntil: 'load' });
  await page.screenshot({ path: output, fullPage: true });
} finally {
  await browser.close();
}
