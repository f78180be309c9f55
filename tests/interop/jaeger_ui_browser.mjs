// By-hand check: a built Jaeger UI in a real browser against tracebucket's /api. Not part of ctest (Jaeger UI is not
// in this repository, nor on npm: build it from its source yourself, outside the repository).
//
//   node jaeger_ui_browser.mjs /path/to/jaeger-ui/packages/jaeger-ui/build      (TB_BINARY, CHROMIUM optional)
//
// It starts tracebucket with the web-shop workload of lib/webshop.mjs (half in a block, half in the head), serves the
// UI folder on a free port with /api/* passed through to tracebucket (the UI calls /api on its own origin), drives
// Debian's chromium (CHROMIUM, default /usr/bin/chromium) with playwright-core, and checks what a user would see:
//   * search by service lists traces; the trace view of the 2,430-span trace shows all its spans;
//   * System Architecture draws the services of the data, with no error;
//   * the Monitor tab shows Jaeger UI's own "Get started with Service Performance Monitoring" page (what it does on
//     a 501 from /api/metrics/*), not "Could not fetch data";
//   * uploading an OTLP/JSON file (Search → Upload, which posts it to /api/transform) lists its traces;
//   * no request to /api failed other than the expected metrics 501s, and the page logged no uncaught error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { TbServer, freePort } from './lib/server.mjs';
import { generateWebShop, webShopOtlp } from './lib/webshop.mjs';

const UI_DIR = process.argv[2];
if (!UI_DIR || !fs.existsSync(path.join(UI_DIR, 'index.html'))) {
  console.error('usage: node jaeger_ui_browser.mjs <built Jaeger UI folder, holding index.html>');
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NOW_MS = Date.now();
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2' };

/** Serves `dir` (index.html for any other path, as the UI routes in the browser) and passes /api/* to `apiBase`. */
function uiServer(dir, apiBase, port) {
  const server = http.createServer((req, res) => {
    if (req.url.startsWith('/api/')) {
      const upstream = http.request(`${apiBase}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(upstream);
      return;
    }
    const file = path.join(dir, path.normalize(decodeURIComponent(req.url.split('?')[0])));
    const found = file.startsWith(dir) && fs.existsSync(file) && fs.statSync(file).isFile() ? file : path.join(dir, 'index.html');
    res.writeHead(200, { 'content-type': TYPES[path.extname(found)] ?? 'application/octet-stream' });
    fs.createReadStream(found).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

describe(`Jaeger UI from ${UI_DIR} in ${CHROMIUM}`, () => {
  const shop = generateWebShop(BigInt(NOW_MS) * 1_000_000n);
  const big = shop.find((t) => t.kind === 'big');
  const ctx = { apiFailures: [], pageErrors: [] };

  before(async () => {
    ctx.tb = await TbServer.start({ extraArgs: ['--no-background-flush'] });
    const half = shop.length / 2;
    for (let i = 0; i < shop.length; i += 20) {
      await ctx.tb.postJson(JSON.stringify(webShopOtlp(shop.slice(i, i + 20).flatMap((t) => t.spans))));
      if (i + 20 === half) await ctx.tb.flush();
    }
    ctx.ui = await uiServer(path.resolve(UI_DIR), ctx.tb.httpBase, await freePort());
    ctx.base = `http://127.0.0.1:${ctx.ui.address().port}`;
    ctx.browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    ctx.page = await ctx.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    ctx.page.on('pageerror', (e) => ctx.pageErrors.push(String(e)));
    ctx.page.on('response', (r) => {
      const url = new URL(r.url());
      const expected501 = url.pathname.startsWith('/api/metrics/') && r.status() === 501;
      if (url.pathname.startsWith('/api/') && r.status() >= 400 && !expected501) ctx.apiFailures.push(`${r.status()} ${url.pathname}${url.search}`);
    });
  }, { timeout: 120_000 });
  after(async () => {
    await ctx.browser?.close();
    ctx.ui?.close();
    if (ctx.tb) {
      try { await ctx.tb.stop(); } finally { await ctx.tb.dispose(); }
    }
  });

  test('search by service lists traces', async () => {
    const end = NOW_MS * 1000;
    await ctx.page.goto(`${ctx.base}/search?service=frontend&limit=20&lookback=1h&start=${end - 3_600_000_000}&end=${end}`);
    await ctx.page.locator('.ResultItem').first().waitFor({ timeout: 30_000 });
    assert.equal(await ctx.page.locator('.ResultItem').count(), 20);
  });

  test('the trace view shows every span of the 2,430-span trace', async () => {
    await ctx.page.goto(`${ctx.base}/trace/${big.traceId}`);
    const header = ctx.page.locator('.TracePageHeader');
    await header.waitFor({ timeout: 30_000 });
    await assert.doesNotReject(header.getByText(String(big.spans.length), { exact: true }).first().waitFor({ timeout: 10_000 }),
      'the header names the span count');
  });

  test('System Architecture draws the services of the data', async () => {
    await ctx.page.goto(`${ctx.base}/dependencies`);
    await ctx.page.locator('.DAG--nodeLabel').first().waitFor({ timeout: 30_000 });
    const labels = await ctx.page.locator('.DAG--nodeLabel').allTextContents();
    for (const service of ['frontend', 'checkout', 'payment', 'accounting', 'fraud-detection']) {
      assert.ok(labels.some((l) => l.includes(service)), `${service} in ${JSON.stringify(labels)}`);
    }
    assert.equal(await ctx.page.locator('.DAG--error').count(), 0);
  });

  test('the Monitor tab explains itself instead of "Could not fetch data"', async () => {
    await ctx.page.goto(`${ctx.base}/monitor`);
    await ctx.page.getByText('Get started with Service Performance Monitoring').waitFor({ timeout: 30_000 });
    assert.equal(await ctx.page.getByText('Could not fetch data').count(), 0);
  });

  test('uploading an OTLP/JSON file lists its traces', async () => {
    const picked = shop.filter((t) => t.kind === 'checkout').slice(0, 3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-ui-'));
    const file = path.join(dir, 'traces.otlp.json');
    fs.writeFileSync(file, JSON.stringify(webShopOtlp(picked.flatMap((t) => t.spans))));
    await ctx.page.goto(`${ctx.base}/search`);
    await ctx.page.getByRole('tab', { name: 'Upload' }).click();
    const transformed = ctx.page.waitForResponse((r) => r.url().endsWith('/api/transform'), { timeout: 30_000 });
    try {
      await ctx.page.locator('input[type=file]').setInputFiles(file);
      assert.equal((await transformed).status(), 200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await ctx.page.locator('.ResultItem').first().waitFor({ timeout: 30_000 });
    assert.equal(await ctx.page.locator('.ResultItem').count(), picked.length);
  });

  test('no /api request failed (other than the metrics 501s) and the page threw nothing', () => {
    assert.deepEqual(ctx.apiFailures, []);
    assert.deepEqual(ctx.pageErrors, []);
  });
});
