import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, waitFor } from '../helpers/node-red';
import { tempDirs } from '../helpers/temp';
import { ScaleSimulator } from '../../sim/scale-simulator';
import { ReferenceCloud } from '../../lib/cloud-sim/reference-cloud';

/**
 * The editor in a real browser: Debian's Chromium driven by playwright-core, against a real
 * Node-RED started with this project's settings. Screenshots go to test-artifacts/.
 */

const projectRoot = path.resolve(__dirname, '..', '..', '..');
const artifacts = path.join(projectRoot, 'test-artifacts');
const bcrypt = require('bcryptjs') as { hashSync(text: string, rounds: number): string };
const CHROMIUM = '/usr/bin/chromium';
const NODE_TYPES = ['dp401-in', 'session-cache', 'event-store', 'cloud-link', 'plu-out'];

describe('the editor in Chromium (real browser, real Node-RED)', function () {
  this.timeout(300_000);
  const dirs = tempDirs();
  let red: ChildProcess | null = null;
  let exited = false;
  let output = '';
  let browser: Browser;
  let page: Page;
  let base: string;
  let tcpPort: number;
  let cloud: ReferenceCloud;
  const sims: ScaleSimulator[] = [];
  const consoleErrors: string[] = [];
  let markLoggedIn = (): void => undefined;

  async function login(p: Page): Promise<void> {
    await p.goto(base);
    await p.locator('#node-dialog-login-username').fill('engineer');
    await p.locator('#node-dialog-login-password').fill('editor-pw');
    await p.locator('#node-dialog-login-submit').click();
    if (p === page) markLoggedIn();
    await p.waitForSelector('.red-ui-palette-node[data-palette-type="dp401-in"]', { timeout: 30_000 });
  }

  /** Drops a node from the palette onto the workspace and opens its edit dialog. */
  async function addAndEdit(type: string, at: { x: number; y: number }): Promise<void> {
    await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).dragTo(page.locator('#red-ui-workspace-chart'), { targetPosition: at });
    const node = page.locator('.red-ui-flow-node-group').filter({ has: page.locator(`text=${type.replace('-', ' ')}`) }).last();
    await node.dblclick();
    await page.waitForSelector('.red-ui-tray-body', { state: 'visible' });
  }

  async function closeTray(): Promise<void> {
    await page.locator('#node-dialog-cancel').click();
    await page.waitForSelector('.red-ui-tray', { state: 'detached' });
  }

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
    fs.mkdirSync(artifacts, { recursive: true });
    const httpPort = await freePort();
    tcpPort = await freePort();
    base = `http://127.0.0.1:${httpPort}/`;
    cloud = new ReferenceCloud({ apiKeys: ['editor-key'], path: '/edge' });
    await cloud.start();
    cloud.startSession({ cloudSessionId: 'session-ui', deviceId: 'SCALE-01', animalTag: 'A-555' });
    const userDir = dirs.make('carnitrack-editor-');
    // An empty flow file: the test imports the default flow itself, from Examples.
    fs.writeFileSync(path.join(userDir, 'flows.json'), '[]');
    red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(projectRoot, 'dist', 'settings.js')], {
      env: {
        ...process.env,
        HTTP_PORT: String(httpPort),
        HTTP_HOST: '127.0.0.1',
        TCP_PORT: String(tcpPort),
        NODE_RED_USER_DIR: userDir,
        EDGE_SITE_ID: 'UI-PLANT',
        CLOUD_WS_URL: cloud.url,
        CLOUD_API_KEY: 'editor-key',
        ADMIN_USER: 'engineer',
        ADMIN_PASSWORD_HASH: bcrypt.hashSync('editor-pw', 8),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    red.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    red.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    red.on('exit', () => (exited = true));
    await waitFor(() => /Server now running/.test(output) || exited, 'Node-RED to start', 60_000);
    assert.ok(!exited, output);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, locale: 'en-US' });
    // Errors count from the login on: before it, the editor's own probe of /settings answers
    // 401 by design (that is how it knows to show the login dialog).
    let loggedIn = false;
    page.on('console', (m) => {
      if (loggedIn && m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    markLoggedIn = () => (loggedIn = true);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page) {
      const name = this.currentTest.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      await page.screenshot({ path: path.join(artifacts, `failed-${name}.png`) }).catch(() => undefined);
    }
  });

  after(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    await browser?.close();
    if (red && !exited) {
      red.kill('SIGTERM');
      await waitFor(() => exited, 'Node-RED to exit', 15_000);
    }
    await cloud?.stop();
    dirs.cleanup();
  });

  it('logs in and shows the CarniTrack palette category with every node and its icon', async () => {
    await login(page);
    const category = page.locator('.red-ui-palette-header', { hasText: 'CarniTrack' });
    await category.waitFor();
    for (const type of NODE_TYPES) {
      const entry = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      await entry.waitFor();
      const icon = await entry.locator('.red-ui-palette-icon').evaluate((el) => getComputedStyle(el).backgroundImage);
      assert.match(icon, new RegExp(`icons/@carnitrack/node-red-edge/${type}\\.svg`), `${type} has its icon`);
      const res = await page.request.get(new URL(`icons/@carnitrack/node-red-edge/${type}.svg`, base).href);
      assert.equal(res.status(), 200);
      assert.match(await res.text(), /<svg/);
    }
    await page.locator('#red-ui-palette').screenshot({ path: path.join(artifacts, 'palette.png') });
  });

  it('opens each node edit dialog with its fields, env defaults and validation messages', async () => {
    await addAndEdit('dp401-in', { x: 200, y: 100 });
    assert.equal(await page.locator('#node-input-port').inputValue(), '${TCP_PORT}');
    assert.equal(await page.locator('#node-input-encoding').inputValue(), 'windows-1254');
    await page.locator('#node-input-port').fill('70000');
    await page.locator('#node-input-name').click();
    await page.waitForSelector('#node-input-port.input-error');
    // The message a person sees on hovering the field.
    await page.locator('#node-input-port').hover();
    await page.locator('.red-ui-popover', { hasText: 'Port must be a number from 1 to 65535' }).waitFor();
    await page.locator('#node-input-timeZone').fill('Mars/Olympus');
    await page.locator('#node-input-name').click();
    await page.waitForSelector('#node-input-timeZone.input-error');
    await page.locator('.red-ui-tray').screenshot({ path: path.join(artifacts, 'edit-dialog-dp401-in.png') });
    await closeTray();

    await addAndEdit('session-cache', { x: 200, y: 200 });
    assert.equal(await page.locator('#node-input-expiryHours').inputValue(), '12');
    // The site config node: add one and see its defaults from the environment.
    await page.locator('#node-input-btn-site-add').click();
    await page.waitForSelector('#node-config-input-siteId');
    assert.equal(await page.locator('#node-config-input-siteId').inputValue(), '${EDGE_SITE_ID}');
    assert.equal(await page.locator('#node-config-input-databasePath').inputValue(), '${DATABASE_PATH}');
    await page.locator('#node-config-input-siteId').fill('bad id!');
    await page.locator('#node-config-input-siteName').click();
    await page.waitForSelector('#node-config-input-siteId.input-error');
    await page.locator('#node-config-dialog-cancel').click();
    await closeTray();

    await addAndEdit('event-store', { x: 200, y: 300 });
    assert.equal(await page.locator('#node-input-window').inputValue(), '1000');
    await page.locator('#node-input-window').fill('0');
    await page.locator('#node-input-name').click();
    await page.waitForSelector('#node-input-window.input-error');
    await closeTray();

    await addAndEdit('cloud-link', { x: 200, y: 400 });
    assert.equal(await page.locator('#node-input-url').inputValue(), '${CLOUD_WS_URL}');
    assert.equal(await page.locator('#node-input-apiKey').getAttribute('type'), 'password');
    await page.locator('#node-input-url').fill('http://not-a-websocket');
    await page.locator('#node-input-name').click();
    await page.waitForSelector('#node-input-url.input-error');
    await closeTray();

    await addAndEdit('plu-out', { x: 200, y: 500 });
    assert.equal(await page.locator('#node-input-outputDir').inputValue(), '${PLU_OUTPUT_DIR}');
    await page.locator('#node-input-template').fill('text1:10~oops');
    await page.locator('#node-input-name').click();
    await page.waitForSelector('#node-input-template.input-error');
    await closeTray();
  });

  it('shows each node help in the sidebar', async () => {
    const phrases: Record<string, RegExp> = {
      'dp401-in': /TCP server that DP-401 label scales connect to/,
      'session-cache': /Caches the Cloud's disassembly sessions/,
      'event-store': /only queue towards the\s+Cloud/,
      'cloud-link': /WebSocket link to the CarniTrack Cloud/,
      'plu-out': /plu\.txt/,
    };
    const labels: Record<string, string> = { 'dp401-in': 'dp401 in', 'session-cache': 'session cache', 'event-store': 'event store', 'cloud-link': 'cloud link', 'plu-out': 'plu out' };
    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('help'));
    for (const type of NODE_TYPES) {
      // Selecting a node on the canvas shows its help, as for a person.
      await page.locator('#red-ui-workspace-chart .red-ui-flow-node-group', { hasText: labels[type] }).first().locator('.red-ui-flow-node').click();
      await page.locator('.red-ui-help', { hasText: phrases[type] }).first().waitFor({ timeout: 10_000 });
    }
  });

  it('imports the default flow from Examples, deploys it, and shows weights in the debug sidebar and the CarniTrack tab', async () => {
    // Clear the nodes dropped by the previous test.
    await page.locator('#red-ui-workspace-chart').click({ position: { x: 900, y: 700 } });
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Delete');
    await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(a: string): void } } }).RED.actions.invoke('core:show-examples-import-dialog'));
    const dialog = page.locator('.red-ui-clipboard-dialog, .ui-dialog', { hasText: 'Import nodes' });
    await dialog.locator('.red-ui-treeList-label', { hasText: '@carnitrack/node-red-edge' }).first().click();
    await dialog.locator('.red-ui-treeList-label', { hasText: 'carnitrack-default' }).first().click();
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    // The imported nodes follow the mouse until placed.
    await page.mouse.click(60, 120);
    await page.locator('#red-ui-header-button-deploy').click();
    await waitFor(() => /listening for DP-401 scales/.test(output), 'the deployed flow to listen for scales', 30_000);
    await waitFor(() => cloud.connections === 1, 'the Cloud link', 30_000);

    const sim = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: 'SCALE-01', rate: 4, maxWeighings: 3, duplicateProbability: 0, seed: 11 });
    sims.push(sim);
    sim.start();
    await waitFor(() => sim.done, 'three OKs', 30_000);

    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('debug'));
    const weight = page.locator('.red-ui-debug-msg', { hasText: 'kg · A-555' }).first();
    await weight.waitFor({ timeout: 20_000 });
    assert.match((await weight.textContent()) ?? '', /SCALE-01 · [A-ZÇĞİÖŞÜ ]+ · \d+\.\d{3} kg · A-555/);
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'debug-sidebar.png') });

    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('carnitrack'));
    await page.locator('.carnitrack-sidebar', { hasText: 'SCALE-01' }).waitFor({ timeout: 20_000 });
    const tab = (await page.locator('.carnitrack-sidebar').textContent()) ?? '';
    assert.match(tab, /connected/);
    assert.match(tab, /A-555/);
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'carnitrack-sidebar.png') });
    await page.screenshot({ path: path.join(artifacts, 'editor.png') });
  });

  it('had no errors in the browser console', () => {
    assert.deepEqual(consoleErrors, []);
  });

  it('shows a dialog in Turkish when the browser asks for Turkish', async () => {
    const tr = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale: 'tr-TR' });
    try {
      await login(tr);
      await tr.locator('.red-ui-tab', { hasText: 'CarniTrack Edge' }).first().click();
      const node = tr.locator('.red-ui-flow-node-group').filter({ hasText: 'DP-401 scales' }).first();
      await node.dblclick();
      await tr.waitForSelector('.red-ui-tray-body', { state: 'visible' });
      const dialog = (await tr.locator('.red-ui-tray-body').textContent()) ?? '';
      assert.match(dialog, /Ham ağırlık birimi/);
      assert.match(dialog, /Terazi saat dilimi/);
      await tr.locator('.red-ui-tray').screenshot({ path: path.join(artifacts, 'edit-dialog-tr.png') });
    } catch (err) {
      await tr.screenshot({ path: path.join(artifacts, 'failed-turkish-page.png') });
      throw err;
    } finally {
      await tr.close();
    }
  });
});
