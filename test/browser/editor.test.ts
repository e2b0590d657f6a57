/**
 * The IDDPM nodes in a real editor: headless Debian chromium (playwright-core) against a real Node-RED 4 with this
 * package loaded from dist/. For each node: find it in the "IDDPM" palette category, drag it onto the canvas,
 * open its dialog, type a bad value and see it refused with its explanation, fix it, change a setting; then deploy
 * and read every node's status on the canvas; and Import > Examples lists this package's flows.
 * Screenshots go to test-output/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startNodeRed, type NodeRed } from './server';

// The page functions below run in the browser; only what they touch is declared (the project has no DOM lib).
interface PageElement { classList: { contains(c: string): boolean }; textContent: string | null; getAttribute(name: string): string | null }
declare const document: { querySelector(sel: string): PageElement | null; querySelectorAll(sel: string): Iterable<PageElement> & ArrayLike<PageElement> };
declare const window: unknown;

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it): playwright-core drives it, downloads nothing. */
const CHROMIUM = process.env.IDDPM_CHROMIUM || '/usr/bin/chromium';
const NO_CHROMIUM = `The editor test needs a Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), or set IDDPM_CHROMIUM to one`;
const OUT = join(ROOT, 'test-output');
const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(OUT, `editor-${name}.png`) });

let nr: NodeRed;
let context: BrowserContext;
let page: Page;
const editorErrors: string[] = [];
const profile = mkdtempSync(join(tmpdir(), 'iddpm-chromium-'));

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(NO_CHROMIUM);
  if (!existsSync(join(ROOT, 'dist', 'nodes', 'shared', 'iddpm-shared.js'))) {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  }
  mkdirSync(OUT, { recursive: true });
  nr = await startNodeRed({ iddpmBackend: 'wasm' });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1500, height: 950 },
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  // Node-RED catches what a dialog's script throws and only logs it, leaving a half-built dialog: collect those.
  page.on('pageerror', (err) => editorErrors.push(err.message));
  page.on('console', (m) => {
    if (/oneditprepare|oneditsave|showEditDialog|(Range|Type|Reference|Syntax)Error/.test(m.text())) editorErrors.push(m.text());
  });
  await page.goto(nr.url);
  await page.locator('.red-ui-palette-node[data-palette-type="iddpm-schedule"]').waitFor({ timeout: 30_000 });
});

after(async () => {
  await context?.close();
  await nr?.stop();
  rmSync(profile, { recursive: true, force: true });
  if (nr) rmSync(nr.userDir, { recursive: true, force: true });
});

interface Case {
  type: string;
  label: string;
  /** A field, a bad value for it and (part of) the explanation the dialog must show. */
  bad?: { field: string; value: string; says: string; fix: string };
  /** A select to set before the bad value (it shows the field), one to change after it, and the status the deployed node shows. */
  first?: { field: string; value: string };
  change?: { field: string; value: string };
  status: string;
}

const CASES: Case[] = [
  { type: 'iddpm-schedule', label: 'Schedule', bad: { field: 'steps', value: 'abc', says: 'must be a number, not "abc"', fix: '500' }, status: 'cosine · T=500' },
  { type: 'iddpm-noiser', label: 'Noiser', change: { field: 'modelMeanType', value: 'start_x' }, status: 'predicts start_x · t rescaled' },
  { type: 'iddpm-unet', label: 'UNet', bad: { field: 'model', value: '../etc', says: "must be 1-64 letters, digits, '_', '.' or '-'", fix: 'browser-model' }, change: { field: 'modelVarType', value: 'learned' }, status: 'browser-model · tiny · learned' },
  { type: 'iddpm-hybrid-loss', label: 'HybridLoss', bad: { field: 'lambda', value: '-1', says: 'must be between 0 and 1000, not -1', fix: '0.01' }, status: 'hybrid · λ=0.01' },
  { type: 'iddpm-importance-sampler', label: 'Importance Sampler', first: { field: 'kind', value: 'importance' }, bad: { field: 'history', value: '1', says: 'must be between 2 and 1000, not 1', fix: '20' }, status: 'importance · history 20 · uniform 0.001' },
  { type: 'iddpm-trainer', label: 'Trainer', bad: { field: 'batchSize', value: '0', says: 'must be between 1 and 1024, not 0', fix: '8' }, change: { field: 'dataset', value: 'fashion-mnist' }, status: 'ready' },
  { type: 'iddpm-sampler', label: 'Sampler', bad: { field: 'steps', value: 'fast', says: 'must be a number of steps (like 50), ddimN', fix: 'ddim25' }, change: { field: 'method', value: 'ddim' }, status: 'ready' },
];

test('the IDDPM palette category holds the seven pipeline nodes and the Import node, with their labels', async () => {
  const header = page.locator('#red-ui-palette-header-IDDPM');
  await header.waitFor();
  assert.equal((await header.innerText()).trim(), 'IDDPM');
  // As drawn: Node-RED breaks a long palette label into lines; each line must hold whole words ("Importance" /
  // "Sampler", never "ImportanceSa" / "mpler").
  const labels = await page.locator('#red-ui-palette-container-IDDPM .red-ui-palette-node').evaluateAll((els) =>
    els.map((e) => [e.getAttribute('data-palette-type'), (e as unknown as { innerText: string }).innerText.trim().split(/\s+/).join(' ')]));
  assert.deepEqual(labels, [...CASES.map((c) => [c.type, c.label]), ['iddpm-import', 'Import']]);
  await header.scrollIntoViewIfNeeded();
  await shot(page, '01-palette');
});

test('each node: drag onto the canvas, a bad value refused with its explanation, a setting changed', async () => {
  const chart = (await page.locator('#red-ui-workspace-chart').boundingBox())!;
  for (const [i, c] of CASES.entries()) {
    const src = page.locator(`.red-ui-palette-node[data-palette-type="${c.type}"]`);
    await src.scrollIntoViewIfNeeded();
    const box = (await src.boundingBox())!;
    const x = chart.x + 260 + (i % 2) * 260;
    const y = chart.y + 60 + i * 70;
    const before = await page.locator('g.red-ui-flow-node').count();
    // A person drags again when a drop did not take (jQuery UI can miss a drag on a busy machine).
    for (let attempt = 0; attempt < 3 && (await page.locator('g.red-ui-flow-node').count()) === before; attempt++) {
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2 + 10, box.y + box.height / 2, { steps: 3 });
      await page.mouse.move(x, y, { steps: 12 });
      await page.mouse.up();
      await page.waitForFunction((n) => document.querySelectorAll('g.red-ui-flow-node').length > n, before, { timeout: 3000 }).catch(() => undefined);
    }
    assert.equal(await page.locator('g.red-ui-flow-node').count(), before + 1, `${c.type} dropped`);

    await page.mouse.dblclick(x, y);
    const tray = page.locator('.red-ui-tray').last();
    await tray.locator('#dialog-form').waitFor();
    if (c.first) await tray.locator(`#node-input-${c.first.field}`).selectOption(c.first.value);
    if (c.bad) {
      const input = tray.locator(`#node-input-${c.bad.field}`);
      const tip = page.locator('.red-ui-popover', { hasText: c.bad.says });
      // The explanation is a hover tooltip (shown 750 ms after the pointer enters). Once in a CI run it never
      // appeared: Node-RED's popover can stay marked open without showing. A person would retype and hover again;
      // so does the test, up to three times, each time with a fresh tooltip (a valid value deletes it).
      for (let attempt = 1; ; attempt++) {
        await input.fill(c.bad.value);
        await input.dispatchEvent('change');
        await page.waitForFunction((sel) => document.querySelector(sel)?.classList.contains('input-error'), `#node-input-${c.bad.field}`);
        await page.mouse.move(5, 5);
        await input.hover();
        const shown = await tip.waitFor({ timeout: 4000 }).then(() => true, (err: Error) => {
          if (attempt === 3) throw err;
          return false;
        });
        if (shown) break;
        await input.fill(c.bad.fix);
        await input.dispatchEvent('change');
      }
      assert.ok((await tip.innerText()).includes(c.bad.says));
      await shot(page, `02-${c.type}-refused`);
      await input.fill(c.bad.fix);
      await input.dispatchEvent('change');
      assert.equal(await input.evaluate((e) => e.classList.contains('input-error')), false, `${c.type} ${c.bad.field}=${c.bad.fix} accepted`);
    }
    if (c.change) await tray.locator(`#node-input-${c.change.field}`).selectOption(c.change.value);
    await page.locator('#node-dialog-ok').click();
    await tray.waitFor({ state: 'detached' });
  }
  await shot(page, '03-canvas');
  assert.deepEqual(editorErrors, [], 'no dialog script failed');
});

test('the Sampler dialog: evaluate mode shows its dataset settings instead of the sampling ones', async () => {
  // The label's box: the node's own shape lies over it, so the double-click goes to that spot, as a person's would.
  const box = (await page.locator('g.red-ui-flow-node-label', { hasText: 'sample msg.model' }).boundingBox())!;
  await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
  const tray = page.locator('.red-ui-tray').last();
  await tray.locator('#dialog-form').waitFor();
  const visible = (id: string): Promise<boolean> => tray.locator(`#node-input-${id}`).isVisible();
  assert.deepEqual([await visible('steps'), await visible('dataset'), await visible('perTimestep')], [true, false, false]);
  await tray.locator('#node-input-mode').selectOption('evaluate');
  assert.deepEqual([await visible('steps'), await visible('method'), await visible('format'), await visible('dataset'), await visible('split'), await visible('perTimestep')], [false, false, false, true, true, true]);
  await tray.locator('#node-input-dataset').selectOption('fashion-mnist');
  await shot(page, '04-sampler-evaluate');
  await page.locator('#node-dialog-ok').click();
  await tray.waitFor({ state: 'detached' });
  await page.locator('g.red-ui-flow-node-label', { hasText: 'bits/dim msg.model' }).waitFor({ timeout: 5000 });
  assert.deepEqual(editorErrors, []);
});

test('deploy: every node shows its status on the canvas', async () => {
  await page.locator('#red-ui-header-button-deploy').click();
  const expected = CASES.map((c) => c.status).sort();
  await page.waitForFunction((n) => document.querySelectorAll('.red-ui-flow-node-status-label').length >= n, expected.length, { timeout: 15_000 });
  await page.waitForFunction(
    (want) => {
      const got = [...document.querySelectorAll('.red-ui-flow-node-status-label')].map((e) => e.textContent ?? '').sort();
      return JSON.stringify(got) === JSON.stringify(want);
    },
    expected,
    { timeout: 15_000 },
  ).catch(() => undefined);
  const got = await page.locator('.red-ui-flow-node-status-label').allTextContents();
  assert.deepEqual(got.sort(), expected);
  // Deployed: nothing left to deploy and the editor unshaded.
  await page.locator('#red-ui-header-button-deploy.disabled').waitFor();
  await page.locator('#red-ui-header-shade').waitFor({ state: 'hidden' });
  await page.locator('.red-ui-notification').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => undefined);
  await shot(page, '05-deployed');
});

test('the help sidebar shows the Trainer help', async () => {
  await page.evaluate(() => (window as unknown as { RED: { sidebar: { help: { show(t: string): void } } } }).RED.sidebar.help.show('iddpm-trainer'));
  const help = page.locator('.red-ui-help');
  await help.getByText('Trains the model described by the pipeline').first().waitFor();
  await shot(page, '06-help-trainer');
});

test('Import > Examples lists this package and its flows', async () => {
  await page.locator('#red-ui-header-button-sidemenu').click();
  await page.locator('#menu-item-import').click();
  await page.locator('#red-ui-clipboard-dialog-import-tabs').getByText('Examples', { exact: true }).click();
  const examples = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
  const mine = examples.getByText('@iddpm/node-red-iddpm', { exact: true });
  await mine.waitFor({ timeout: 10_000 });
  await mine.click();
  // Examples › flows (the library) › @iddpm/node-red-iddpm › flows (examples/flows/) › the flows.
  const folder = examples.getByText('flows', { exact: true }).nth(1);
  await folder.waitFor({ timeout: 10_000 });
  await folder.click();
  await examples.getByText('01 Train on MNIST').waitFor({ timeout: 10_000 });
  await shot(page, '07-import-examples');
});
