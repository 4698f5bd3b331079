import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkFile, type FileReport } from '../checker/check.ts';
import { writeHtmlReport } from '../checker/html.ts';
import { buildReport } from '../checker/report.ts';
import { TimelineCollector, type FileTimeline } from '../checker/timeline.ts';

/**
 * The HTML report in a real browser: Debian's chromium driven by playwright-core (never a browser
 * downloaded by npm). `.ci/run` installs chromium; only when Debian's registry could not be
 * reached (it then exports TROLLCOUNT_REGISTRY_UNREACHABLE with the reason) may this test be
 * skipped, and it says so. A missing chromium otherwise fails the test: it never passes vacuously.
 *
 * TROLLCOUNT_SCREENSHOT=docs/report.png also writes the README's picture of the report.
 */

// Debian's chromium; the override exists only to exercise the missing-browser rule
const CHROMIUM = process.env.TROLLCOUNT_TEST_CHROMIUM ?? '/usr/bin/chromium';
const unreachable = process.env.TROLLCOUNT_REGISTRY_UNREACHABLE;
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !!unreachable;
if (skip) console.warn(`SKIPPED browser-report: ${CHROMIUM} is not installed and Debian's registry was unreachable (${unreachable})`);

const ROOT = new URL('..', import.meta.url).pathname;
// relative names, as a user typing `trollcount check traces/...` sees them
const FILES = ['traces/fixtures/kcalls-6.1-wrong-mapcount.jsonl', 'traces/fixtures/real/6.1-thp-fork-cow.ftrace.gz'].map((f) => relative(process.cwd(), join(ROOT, f)));

describe('HTML report in chromium', () => {
  it.skipIf(skip)('loads from file:// without console errors or network requests and shows the divergence', async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} not found and TROLLCOUNT_REGISTRY_UNREACHABLE is not set: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does)`);
    const { chromium } = await import('playwright-core');

    const reports: FileReport[] = [];
    const timelines: FileTimeline[] = [];
    for (const file of FILES) {
      const c = new TimelineCollector(file);
      reports.push(await checkFile(file, { timeline: c }));
      timelines.push(c.result());
    }
    const dir = mkdtempSync(join(tmpdir(), 'trollcount-browser-'));
    const html = join(dir, 'report.html');
    writeHtmlReport(html, buildReport(reports), timelines);

    const profile = join(dir, 'profile');
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1200, height: 900 },
    });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

      const divergence = page.locator('ol.divs li').first();
      await expect.poll(() => divergence.isVisible()).toBe(true);
      const text = await divergence.innerText();
      expect(text).toContain('kcalls-6.1-wrong-mapcount.jsonl:5');
      expect(text).toContain('page_remove_rmap');
      expect(text).toContain('_mapcount: kernel 1, model 0');
      expect(await page.locator('h1 .verdict').innerText()).toBe('diverge');

      // the diverging row of the folio's timeline is shown, in red
      const row = page.locator('table.tl tr.dv').first();
      expect(await row.isVisible()).toBe(true);
      expect(await row.innerText()).toContain('_mapcount=1');
      expect(await row.evaluate((el) => getComputedStyle(el.querySelector('td')!).backgroundColor)).toBe('rgb(253, 232, 232)');
      expect(await page.locator('svg.strip circle').count()).toBeGreaterThanOrEqual(1);

      // the link from the divergence leads to its row
      await divergence.getByRole('link', { name: 'timeline' }).click();
      await expect.poll(() => page.locator('tr.target').getAttribute('class')).toContain('dv');

      if (process.env.TROLLCOUNT_SCREENSHOT) {
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: process.env.TROLLCOUNT_SCREENSHOT, clip: { x: 0, y: 0, width: 1200, height: 1500 }, fullPage: true });
        expect(statSync(process.env.TROLLCOUNT_SCREENSHOT).size).toBeLessThan(300_000);
      }

      // the filter hides the rows that agree
      const agreeing = page.locator('table.tl tr.pt:not(.dv)').first();
      expect(await agreeing.isVisible()).toBe(true);
      await page.locator('#only-div').check();
      expect(await agreeing.isVisible()).toBe(false);
      expect(await row.isVisible()).toBe(true);

      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
