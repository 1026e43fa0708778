// Drives GET /docs (Swagger UI) and GET /redoc (ReDoc) of a running analytics-api in Debian's
// headless Chromium:
//   - /docs: expands POST /api/metrics, "Try it out" with the document's example body, Execute,
//     and sees 201 from this very service;
//   - /redoc: every operation of /openapi.json is listed;
//   - neither page requests anything from another origin (they are blocked, as with no internet
//     access), logs a console error, or throws.
// Screenshots go to SCREENSHOT_DIR: docs-overview.png, docs.png (the 201 of "Try it out"),
// docs-try-it-out.png (that whole operation) and redoc.png.
//
//   BASE_URL=http://127.0.0.1:8000 SCREENSHOT_DIR=build/dev/screenshots \
//       node tests/browser/docs.test.mjs
//
// ./test.sh starts the service on a free port and runs this after ctest. Exit status 0: all good;
// 1: a check failed (each failure is printed); 2: it could not run.

import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const baseUrl = (process.env.BASE_URL ?? '').replace(/\/$/, '');
const screenshotDir = process.env.SCREENSHOT_DIR ?? '';
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const timeout = Number(process.env.BROWSER_TIMEOUT_MS ?? 30000);
if (!baseUrl || !screenshotDir) {
  console.error('docs.test.mjs: set BASE_URL and SCREENSHOT_DIR');
  process.exit(2);
}
const origin = new URL(baseUrl).origin;

const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`FAIL ${what}`);
};
const pass = (what) => console.log(`ok   ${what}`);

// The flags Debian's Chromium needs in CI: no sandbox (root), no GPU, and none of
// the background connections that a machine without internet access would refuse.
const flags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

async function checkSwaggerUi(context) {
  const page = await context.newPage();
  watch(page, '/docs');
  await page.goto(`${baseUrl}/docs`);

  // Swagger UI names each operation block operations-<tag>-<operationId>.
  const block = page.locator('#operations-metrics-ingestMetric');
  await block.waitFor({ timeout });
  await page.screenshot({ path: join(screenshotDir, 'docs-overview.png') });
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();
  const body = block.locator('textarea.body-param__text');
  await body.waitFor({ timeout });
  const example = JSON.parse(await body.inputValue());
  if (example.type !== 'cpu_usage' || typeof example.value !== 'number' || !example.timestamp) {
    fail(`/docs: the request body is not the document's example: ${JSON.stringify(example)}`);
  }

  const answered = page.waitForResponse(
    (r) => r.url() === `${baseUrl}/api/metrics` && r.request().method() === 'POST',
    { timeout },
  );
  await block.locator('button.execute').click();
  const response = await answered;
  if (response.status() !== 201) {
    const text = await response.text();
    fail(`/docs: Try it out of POST /api/metrics got ${response.status()}: ${text}`);
  }
  // What the user sees: the live response table with the status and the body.
  const status = block.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout });
  const shown = (await status.innerText()).trim();
  const shownBody = await block.locator('.live-responses-table .response .highlight-code').first()
    .innerText();
  if (shown !== '201' || !shownBody.includes('Metric received')) {
    fail(`/docs: the page shows status "${shown}" and body "${shownBody.slice(0, 200)}"`);
  } else {
    pass('/docs: POST /api/metrics "Try it out" with the example body answered 201');
  }
  // The viewport with the live response in the middle, then the whole operation.
  await status.evaluate((el) => el.scrollIntoView({ block: 'center' }));
  await page.screenshot({ path: join(screenshotDir, 'docs.png') });
  await block.screenshot({ path: join(screenshotDir, 'docs-try-it-out.png') });
  await page.close();
}

async function checkRedoc(context, operations) {
  const page = await context.newPage();
  watch(page, '/redoc');
  await page.goto(`${baseUrl}/redoc`);
  const menu = page.locator('.menu-content');
  await menu.waitFor({ timeout });
  await page.locator('h2').first().waitFor({ timeout });
  // Each operation is in the menu (under its tag, collapsed or not) and has a section of its
  // own in the middle column, headed by its summary.
  const menuText = await menu.textContent();
  const headings = (await page.locator('h2').allInnerTexts()).map((h) => h.trim());
  const missing = operations.filter(
    (o) => !menuText.includes(o.summary) || !headings.includes(o.summary),
  );
  if (missing.length > 0) {
    fail(`/redoc: not listed: ${missing.map((o) => `${o.method} ${o.path}`).join(', ')}`);
  } else {
    pass(`/redoc: all ${operations.length} operations are listed`);
  }
  // For the screenshot: open the metrics group and go to POST /api/metrics.
  await menu.getByText('metrics', { exact: true }).click();
  await menu.getByText('Ingest one metric', { exact: true }).click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(screenshotDir, 'redoc.png') });
  await page.close();
}

// ReDoc 2.5 draws the "API docs by Redocly" link with a logo from its CDN, unconditionally. The
// pages' Content-Security-Policy refuses it before any request is made, ReDoc then hides the
// image, and Chromium logs the refusal: the one console error that is expected.
const expectedRefusals = ['https://cdn.redoc.ly/redoc/logo-mini.svg'];

// Console errors and uncaught exceptions fail the test; so does any request to another origin,
// which is also blocked (see main).
function watch(page, name) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') {
      return;
    }
    const text = msg.text();
    const refused = expectedRefusals.find((u) => text.includes(`'${u}'`));
    if (text.includes('Content Security Policy') && refused) {
      console.log(`note ${name}: refused as expected: ${refused}`);
      return;
    }
    fail(`${name}: console error: ${text}`);
  });
  page.on('pageerror', (err) => fail(`${name}: uncaught ${err.message}`));
}

async function main() {
  const started = Date.now();
  mkdirSync(screenshotDir, { recursive: true });
  const documentResponse = await fetch(`${baseUrl}/openapi.json`);
  if (documentResponse.status !== 200) {
    console.error(`docs.test.mjs: GET ${baseUrl}/openapi.json answered ${documentResponse.status}`);
    process.exit(2);
  }
  const document = await documentResponse.json();
  const operations = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method !== 'parameters') {
        operations.push({ method: method.toUpperCase(), path, summary: op.summary });
      }
    }
  }

  const profile = mkdtempSync(join(tmpdir(), 'docs-browser-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: flags,
      viewport: { width: 1280, height: 900 },
      timeout,
    });
    context.setDefaultTimeout(timeout);
    // As with no internet access: anything not from the service is refused, and reported.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) {
        return route.continue();
      }
      fail(`a page requested ${url}`);
      return route.abort();
    });
    await checkSwaggerUi(context);
    await checkRedoc(context, operations);
  } catch (err) {
    fail(`${err.message}`);
  } finally {
    if (context) {
      await context.close();
    }
    rmSync(profile, { recursive: true, force: true });
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (failures.length > 0) {
    console.error(`docs.test.mjs: ${failures.length} failure(s) in ${seconds} s; ` +
      `screenshots in ${screenshotDir}`);
    process.exit(1);
  }
  console.log(`docs.test.mjs: passed in ${seconds} s; screenshots in ${screenshotDir}`);
}

main().catch((err) => {
  console.error(`docs.test.mjs: ${err.stack ?? err}`);
  process.exit(2);
});
