/**
 * The IDDPM sidebar in a real editor (Debian chromium through playwright-core, a real Node-RED 4 with this package
 * from dist/): a small job (an 8×8 custom UNet, T = 100) trains while the Jobs view is open — its charts change
 * between two screenshots and a preview appears with its x_t / x̂₀ frames; the Sampling view shows the queue with
 * each request's progress and cancels a waiting request; a dialog's model list fills the model field; the Models
 * view lists the model; the stop button stops the job with a checkpoint. Screenshots: test-output/sidebar-*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT, startNodeRed, type NodeRed } from './server';
import { MODEL, flow } from './sidebar-flow';

interface PageElement { textContent: string | null; getAttribute(name: string): string | null; toDataURL?(): string }
declare const document: { querySelector(sel: string): PageElement | null; querySelectorAll(sel: string): ArrayLike<PageElement> };
declare const window: unknown;

const CHROMIUM = process.env.IDDPM_CHROMIUM || '/usr/bin/chromium';
const OUT = join(ROOT, 'test-output');
let nr: NodeRed;
let context: BrowserContext;
let page: Page;
const profile = mkdtempSync(join(tmpdir(), 'iddpm-chromium-'));
const sidebar = (): Locator => page.locator('#red-ui-sidebar');
const shot = (name: string): Promise<Buffer> => sidebar().screenshot({ path: join(OUT, `sidebar-${name}.png`) });
const inject = async (id: string): Promise<void> => {
  const r = await page.request.post(`${nr.url}inject/${id}`);
  assert.equal(r.status(), 200, await r.text());
};
const job = (): Locator => page.locator(`.iddpm-job[data-name="${MODEL}"]`);
/** The step the job card shows ("step 12 / 2000 · …"). */
const shownStep = async (): Promise<number> => Number(/step (\d+)/.exec((await job().locator('.iddpm-job-stats').textContent()) ?? '')?.[1] ?? -1);

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`The sidebar test needs a Chromium at ${CHROMIUM} (apt-get install chromium, or set IDDPM_CHROMIUM)`);
  if (!existsSync(join(ROOT, 'dist', 'nodes', 'iddpm-sidebar', 'sidebar.js'))) execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  mkdirSync(OUT, { recursive: true });
  nr = await startNodeRed({ iddpmBackend: 'wasm' }, flow());
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  await page.goto(nr.url);
  await page.locator('.red-ui-palette-node[data-palette-type="iddpm-sampler"]').waitFor({ timeout: 30_000 });
  await page.evaluate(() => (window as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('iddpm'));
  // Room for the charts: a wider sidebar, dragged as a person would.
  const sep = (await page.locator('#red-ui-sidebar-separator').boundingBox())!;
  await page.mouse.move(sep.x + sep.width / 2, sep.y + sep.height / 2);
  await page.mouse.down();
  await page.mouse.move(sep.x - 160, sep.y + sep.height / 2, { steps: 8 });
  await page.mouse.up();
});

after(async () => {
  await context?.close();
  await nr?.stop();
  rmSync(profile, { recursive: true, force: true });
  if (nr) rmSync(nr.userDir, { recursive: true, force: true });
});

test('the IDDPM tab opens on its Jobs view, empty until a job starts', async () => {
  await page.locator('#red-ui-tab-iddpm').waitFor();
  await page.locator('.iddpm-pane-jobs').waitFor();
  assert.match((await page.locator('.iddpm-pane-jobs').innerText()).trim(), /No training job yet/);
  assert.deepEqual(await page.locator('.iddpm-sidebar-header button').allInnerTexts(), ['Jobs', 'Sampling', 'Models']);
  await shot('01-empty');
});

test('a job trains with the Jobs view open: phases, step of max and ETA, charts that change, a preview with x_t and x̂₀', async () => {
  await inject('train');
  await job().waitFor({ timeout: 60_000 });
  // While it starts, the card names the phase; then step of max, pace and ETA.
  await page.waitForFunction(() => /step \d+ \/ 2000 · [\d.]+ img\/s · ETA \d/.test(document.querySelector('.iddpm-job .iddpm-job-stats')?.textContent ?? ''), undefined, { timeout: 120_000 });
  const loss = job().locator('.iddpm-chart-loss canvas');
  await loss.waitFor();
  const first = await shownStep();
  const pixels1 = await loss.evaluate((c) => (c as unknown as PageElement).toDataURL!());
  const a = await shot('02-training');
  // A few steps later: more points on the charts, the curves over t and a preview.
  for (const until = Date.now() + 120_000; (await shownStep()) < first + 4 && Date.now() < until;) await page.waitForTimeout(250);
  await job().locator('.iddpm-preview-grid[src^="data:image/png"]').waitFor({ state: 'visible', timeout: 120_000 });
  await job().locator('.iddpm-chart-pt canvas').waitFor();
  await job().locator('.iddpm-chart-overT canvas').waitFor();
  await job().locator('.iddpm-frames-table img').first().waitFor();
  await job().locator('.iddpm-preview').scrollIntoViewIfNeeded();
  const pixels2 = await loss.evaluate((c) => (c as unknown as PageElement).toDataURL!());
  const b = await shot('03-preview');
  assert.ok((await shownStep()) >= first + 4, `the job went on (step ${first} → ${await shownStep()})`);
  assert.notEqual(pixels1, pixels2, 'the loss chart was redrawn with new points');
  assert.ok(!a.equals(b), 'the two screenshots differ');
  const ts = await job().locator('.iddpm-frames-table .iddpm-frame-t').allInnerTexts();
  assert.ok(ts.length >= 4 && ts.map(Number).every((t, i, a) => i === 0 || t < a[i - 1]) && ts.at(-1) === '0', `frames from noise to t = 0: ${ts}`);
  assert.match(await job().locator('.iddpm-chart-pt .u-legend').innerText(), /p_t[\s\S]*uniform floor[\s\S]*1\/T/);
});

test('the Sampling view: the queue with each request\'s progress, and a waiting request cancelled', async () => {
  await page.locator('.iddpm-sidebar-header button[data-pane=sampling]').click();
  for (let i = 0; i < 3; i++) await inject('sample');
  const items = page.locator('.iddpm-queue-item');
  await page.waitForFunction(() => document.querySelectorAll('.iddpm-queue-item').length === 3, undefined, { timeout: 30_000 });
  const waiting = page.locator('.iddpm-queue-item:has(.iddpm-state-queued)').last();
  const id = await waiting.getAttribute('data-id');
  assert.ok(id, 'a waiting request');
  await page.waitForFunction(() => /^step \d+ of 100 · batch 1 of 1$/.test(document.querySelector('.iddpm-queue-item .iddpm-queue-progress')?.textContent ?? ''), undefined, { timeout: 60_000 });
  await shot('04-queue');
  await page.locator(`.iddpm-queue-item[data-id="${id}"] .iddpm-cancel`).click();
  await page.locator(`.iddpm-queue-item[data-id="${id}"]`).waitFor({ state: 'detached', timeout: 10_000 });
  assert.ok((await items.count()) >= 1, 'the others are still there');
  await shot('05-cancelled');
  // The cancelled request's message failed with its reason (to Catch nodes, and Node-RED's log).
  for (const until = Date.now() + 10_000; !/Sampling was cancelled before it started/.test(nr.log()) && Date.now() < until;) await page.waitForTimeout(200);
  assert.match(nr.log(), /\[iddpm-sampler:sampler\] Sampling was cancelled before it started/);
});

test('a dialog offers the stored models for its model field; a pick fills it', async () => {
  const label = page.locator('g.red-ui-flow-node-label', { hasText: `sample ${MODEL}` });
  const box = (await label.boundingBox())!;
  await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
  const tray = page.locator('.red-ui-tray').last();
  await tray.locator('#dialog-form').waitFor();
  const field = tray.locator('#node-input-model');
  await field.fill('');
  await tray.locator('.iddpm-model-pick').click();
  const option = tray.locator(`.iddpm-model-option[data-name="${MODEL}"]`);
  await option.waitFor({ timeout: 30_000 });
  assert.match(await option.innerText(), /\d+ steps · loss [\d.e-]+[\s\S]*cosine T=100 · custom 8×8×1 · learned_range · hybrid λ=0\.001 · importance/);
  await page.screenshot({ path: join(OUT, 'sidebar-06-model-list.png') });
  await option.click();
  assert.equal(await field.inputValue(), MODEL);
  await page.locator('#node-dialog-cancel').click();
  await tray.waitFor({ state: 'detached' });
});

test('the Models view lists the model with its pipeline, steps and last loss; stop ends the job with a checkpoint', async () => {
  await page.locator('.iddpm-sidebar-header button[data-pane=models]').click();
  const model = page.locator(`.iddpm-model[data-name="${MODEL}"]`);
  await model.waitFor({ timeout: 30_000 });
  assert.match(await model.innerText(), /training[\s\S]*cosine T=100[\s\S]*checkpoint at step \d+ · loss [\d.e-]+ at step \d+/);
  await shot('07-models');
  await page.locator('.iddpm-sidebar-header button[data-pane=jobs]').click();
  await job().locator('[data-action=stop]').click();
  await job().locator('.iddpm-state-stopped').waitFor({ timeout: 60_000 });
  await shot('08-stopped');
});
