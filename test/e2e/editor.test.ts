import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, waitFor, ScaleClient } from '../helpers/node-red';
import { weighingBytes, CRLF } from '../helpers/lines';
import { tempDirs } from '../helpers/temp';
import { ScaleSimulator } from '../../sim/scale-simulator';
import { ReferenceCloud } from '../../sim/reference-cloud';

/**
 * The editor in a real browser: Debian's Chromium driven by playwright-core, against a real
 * Node-RED started with this project's settings. Screenshots go to test-artifacts/.
 */

const projectRoot = path.resolve(__dirname, '..', '..', '..');
const artifacts = path.join(projectRoot, 'test-artifacts');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- bcryptjs comes with node-red, without types
const bcrypt = require('bcryptjs') as { hashSync(text: string, rounds: number): string };
const CHROMIUM = '/usr/bin/chromium';
// The same check scripts/screenshot-flow.js runs (plain JS, run inside the page).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a script of this project, without types
const { statusCrossings } = require(path.join(projectRoot, 'scripts', 'flow-layout-check.js')) as {
  statusCrossings(page: Page, options?: { longest?: boolean }): Promise<Array<{ wire: string; status: string; text: string }>>;
};
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
    const node = page
      .locator('.red-ui-flow-node-group')
      .filter({ has: page.locator(`text=${type.replace('-', ' ')}`) })
      .last();
    await node.dblclick();
    await page.waitForSelector('.red-ui-tray-body', { state: 'visible' });
  }

  /** Import > Examples > this package > `name`, placed on the canvas, then Deploy, as a person does it. */
  async function importAndDeploy(name: string): Promise<void> {
    await page.evaluate(() => (window as unknown as { RED: { actions: { invoke(a: string): void } } }).RED.actions.invoke('core:show-examples-import-dialog'));
    const dialog = page.locator('.red-ui-clipboard-dialog, .ui-dialog', { hasText: 'Import nodes' });
    await dialog.locator('.red-ui-treeList-label', { hasText: '@carnitrack/node-red-edge' }).first().click();
    await dialog.locator('.red-ui-treeList-label', { hasText: name }).first().click();
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    // The imported nodes follow the mouse until placed.
    await page.mouse.click(60, 120);
    await page.locator('#red-ui-header-button-deploy').click();
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
        // The gateway's zone differs from the browser's (below): dialogs must show the gateway's.
        TZ: 'Europe/Istanbul',
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
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, locale: 'en-US', timezoneId: 'America/Sao_Paulo' });
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
    // Units beside the fields, in the editor's language (Turkish below).
    assert.equal(await page.locator('#node-input-staleAfterS + .carnitrack-unit').textContent(), 's');
    assert.equal(await page.locator('#node-input-missingAfterMin + .carnitrack-unit').textContent(), 'min');
    assert.equal(await page.locator('#node-input-maxCapacityKg + .carnitrack-unit').textContent(), 'kg');
    await page.locator('#node-input-timeZone').fill('Mars/Olympus');
    await page.locator('#node-input-name').click();
    await page.waitForSelector('#node-input-timeZone.input-error');
    // The node's own check of "Timeout after" first holds it to its range, then above "Stale after" (45 s).
    for (const [value, wrong] of [
      ['0.1', true],
      ['90', false],
      ['40', true],
    ] as const) {
      await page.locator('#node-input-timeoutAfterS').fill(value);
      await page.locator('#node-input-name').click();
      await page.waitForSelector(`#node-input-timeoutAfterS${wrong ? '.input-error' : ':not(.input-error)'}`);
    }
    await page.locator('.red-ui-tray').screenshot({ path: path.join(artifacts, 'edit-dialog-dp401-in.png') });
    await closeTray();

    await addAndEdit('session-cache', { x: 200, y: 200 });
    assert.equal(await page.locator('#node-input-expiryHours').inputValue(), '12');
    assert.equal(await page.locator('#node-input-liveRate').inputValue(), '20');
    assert.equal((await page.locator('label[for="node-input-liveRate"]').innerText()).trim(), 'Live view');
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
    const labels: Record<string, string> = {
      'dp401-in': 'dp401 in',
      'session-cache': 'session cache',
      'event-store': 'event store',
      'cloud-link': 'cloud link',
      'plu-out': 'plu out',
    };
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
    await importAndDeploy('carnitrack-default');
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

  /** The status text under a node of the open flow, found by its name, as a person reads it. */
  const statusOf = (p: Page, name: string): Promise<string> =>
    p
      .locator('#red-ui-workspace-chart .red-ui-flow-node-group')
      .filter({ has: p.getByText(name, { exact: true }) })
      .first()
      .locator('.red-ui-flow-node-status-label')
      .textContent({ timeout: 5_000 })
      .then((t) => t ?? '');
  const tabText = async (): Promise<string> => (await page.locator('.carnitrack-sidebar').textContent()) ?? '';

  /**
   * The tab at 320 px (the sidebar's narrow width): how far anything runs off its side, and the
   * scale cells (ids, health, weights, times) that break across lines. Call wide() after it.
   */
  const narrow = (): Promise<{ overflow: number; broken: Array<string | null>; cells: number }> =>
    page.evaluate(() => {
      const tab = document.querySelector('.carnitrack-sidebar') as HTMLElement;
      tab.style.width = '320px';
      tab.style.boxSizing = 'border-box';
      const oneLine = (el: Element): boolean => {
        const h = el.getBoundingClientRect().height;
        const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
        return h < line * 1.6;
      };
      const cells = Array.from(document.querySelectorAll('.carnitrack-scale td'));
      return {
        overflow: tab.scrollWidth - tab.clientWidth,
        broken: cells.filter((td) => !oneLine(td)).map((td) => td.textContent),
        cells: cells.length,
      };
    });
  const wide = (): Promise<void> => page.evaluate(() => void ((document.querySelector('.carnitrack-sidebar') as HTMLElement).style.width = ''));
  /** The editor's own request (with its login) from the page. */
  const editorAjax = (method: string, url: string): Promise<number> =>
    page.evaluate(
      ([m, u]) =>
        new Promise<number>((resolve) => {
          const $ = (window as unknown as { $: { ajax(o: object): { always(cb: (a: unknown, b: unknown, c: unknown) => void): void } } }).$;
          $.ajax({ method: m, url: u }).always((a, _b, c) => resolve(((a as { status?: number }).status ?? (c as { status?: number }).status) || 0));
        }),
      [method, url],
    );

  it('shows short node statuses, and in the dialog the settings in use and the gateway time zone', async () => {
    await page.locator('.red-ui-tab', { hasText: 'CarniTrack Edge' }).first().click();
    await waitFor(async () => /^scales: 1 · \d+\.\d{3} kg$/.test(await statusOf(page, 'DP-401 scales')), 'the dp401-in status', 15_000);
    assert.equal(await statusOf(page, 'CarniTrack Cloud'), 'connected');
    await waitFor(async () => /^(all sent|to send: \d+)$/.test(await statusOf(page, 'event store (SQLite)')), 'the event-store status', 15_000);
    assert.match(await statusOf(page, 'sessions & batches'), /^sessions: 1$/);
    await page.locator('#red-ui-workspace-chart').screenshot({ path: path.join(artifacts, 'statuses.png') });

    await page.locator('#red-ui-workspace-chart .red-ui-flow-node-group', { hasText: 'DP-401 scales' }).first().dblclick();
    await page.waitForSelector('.red-ui-tray-body', { state: 'visible' });
    // ${TCP_PORT} in the field, the port in use under it; the gateway's zone, not the browser's.
    assert.equal(await page.locator('#node-input-port').inputValue(), '${TCP_PORT}');
    const hint = page.locator('.carnitrack-resolved');
    await hint.filter({ hasText: `Port: ${tcpPort}` }).waitFor({ timeout: 10_000 });
    assert.match((await hint.textContent()) ?? '', /^Running now with: .*Scale time zone: Europe\/Istanbul/);
    assert.equal(await page.locator('#node-input-timeZone').getAttribute('placeholder'), 'Europe/Istanbul');
    await page.locator('.red-ui-tray').screenshot({ path: path.join(artifacts, 'edit-dialog-resolved.png') });
    await closeTray();
  });

  it('makes the CarniTrack tab a control panel: rejected events with the reason and Send again, a Cloud outage in words and Reconnect now', async () => {
    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('carnitrack'));
    await page.locator('.carnitrack-sidebar', { hasText: 'no problems' }).waitFor({ timeout: 10_000 });
    assert.match(await tabText(), new RegExp(`DP-401 scales: Port: ${tcpPort}`));
    assert.equal(await page.locator('.carnitrack-reconnect').count(), 0, 'no reconnect button while connected');

    cloud.faults.reject = { deviceId: 'SCALE-02', reason: 'SCALE-02 is not registered at this plant' };
    const sim = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: 'SCALE-02', rate: 4, maxWeighings: 1, duplicateProbability: 0, seed: 12 });
    sims.push(sim);
    sim.start();
    await page.locator('.carnitrack-fail-reason', { hasText: 'SCALE-02 is not registered at this plant' }).waitFor({ timeout: 20_000 });
    assert.match((await page.locator('.carnitrack-problem-failed-events').textContent()) ?? '', /event store \(SQLite\): 1 event\(s\) rejected by the Cloud/);
    await waitFor(async () => (await statusOf(page, 'event store (SQLite)')) === 'rejected: 1', 'the rejected status', 10_000);
    // The rejected row says when, what and how much, not only the scale.
    assert.match((await page.locator('.carnitrack-failed-event').first().textContent()) ?? '', /^\d\d:\d\d:\d\d\s*SCALE-02\s*\d{5} \S.*\d\.\d{3} kg/);
    // At 320 px (the sidebar's narrow width) nothing runs off the side and no scale id or weight
    // breaks across lines.
    const layout = await narrow();
    assert.ok(layout.cells >= 5, 'the scales table is there');
    assert.deepEqual(layout.broken, [], 'scale cells on one line at 320 px');
    assert.ok(layout.overflow <= 0, `nothing wider than the tab at 320 px (${layout.overflow} px over)`);
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'carnitrack-tab-rejected.png') });
    await wide();
    cloud.faults.reject = null;
    await page.locator('.carnitrack-retry').click();
    await page.locator('.carnitrack-notice', { hasText: '1 rejected event(s) queued to send again' }).waitFor({ timeout: 10_000 });
    await page.locator('.carnitrack-sidebar', { hasText: 'no problems' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('.carnitrack-failed').count(), 0);

    // The Cloud goes away: the tab says so in words, offers Reconnect now, and the link comes back.
    cloud.faults.refuseUntil = Date.now() + 600_000;
    cloud.dropConnections();
    await page
      .locator('.carnitrack-problem-cloud-down', { hasText: 'Cloud not reachable: the Cloud service answered with an error' })
      .waitFor({ timeout: 20_000 });
    assert.doesNotMatch(await tabText(), /Unexpected server response/, 'no raw error in the tab');
    await waitFor(async () => /^offline · retry \d+ s$/.test(await statusOf(page, 'CarniTrack Cloud')), 'the offline status', 10_000);
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'carnitrack-tab-cloud-down.png') });
    cloud.faults.refuseUntil = 0;
    await page.locator('.carnitrack-reconnect').click();
    await page.locator('.carnitrack-cloud', { hasText: 'connected' }).waitFor({ timeout: 20_000 });
    await page.locator('.carnitrack-sidebar', { hasText: 'no problems' }).waitFor({ timeout: 20_000 });
  });

  it('lays out the default flow so that no wire crosses a node status, as the statuses are and at their longest', async () => {
    await page.locator('.red-ui-tab', { hasText: 'CarniTrack Edge' }).first().click();
    await waitFor(async () => /^scales: \d+/.test(await statusOf(page, 'DP-401 scales')), 'the statuses', 15_000);
    const now = await statusCrossings(page);
    const longest = await statusCrossings(page, { longest: true });
    await page.locator('#red-ui-workspace-chart').screenshot({ path: path.join(artifacts, 'default-flow-longest-statuses.png') });
    const said = (list: typeof now): string[] => list.map((c) => `${c.wire} crosses the status of ${c.status} ("${c.text}")`);
    assert.deepEqual(said(now), []);
    assert.deepEqual(said(longest), []);
  });

  it("shows three scales weighing at once in the live view (the debug sidebar fed by session-cache's live output)", async () => {
    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('debug'));
    // Three scales weigh in the same moment: each gets its turn in the live view, none is hidden.
    const burst = await Promise.all(['SCALE-04', 'SCALE-05', 'SCALE-06'].map(() => ScaleClient.connect(tcpPort)));
    burst.forEach((c, n) => c.write(`SCALE-0${n + 4}`));
    await waitFor(() => [4, 5, 6].every((n) => output.includes(`SCALE-0${n} connected from 127.0.0.1`)), 'the three connects in the log', 10_000);
    burst.forEach((c, n) => c.write(Buffer.concat([weighingBytes({ netRaw: 1004 + n, grossRaw: 3504 + n }), CRLF])));
    for (const c of burst) await c.waitForOks(1, 10_000);
    for (const n of [4, 5, 6]) {
      await page
        .locator('.red-ui-debug-msg', { hasText: `SCALE-0${n} · KUZU PIRZOLA · 1.00${n} kg` })
        .first()
        .waitFor({ timeout: 15_000 });
    }
    // And three simulated scales, each at its own pace with its own weights.
    const paced = [11, 12, 13].map(
      (n) =>
        new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: `SCALE-${n}`, rate: 8, maxWeighings: 12, duplicateProbability: 0, seed: 100 + n }),
    );
    sims.push(...paced);
    paced.forEach((sim) => sim.start());
    await waitFor(() => paced.every((sim) => sim.done), 'the simulated weighings', 60_000);
    for (const n of [11, 12, 13])
      await page
        .locator('.red-ui-debug-msg', { hasText: `SCALE-${n} · ` })
        .first()
        .waitFor({ timeout: 15_000 });
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'live-view-six-scales.png') });
    for (const c of burst) c.destroy();
  });

  it('keeps a scale that dropped off in the CarniTrack tab: disconnected, when and where last seen, its session marked, usable at 320 px, and Forget', async () => {
    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('carnitrack'));
    // SCALE-04..06 (the burst above) closed their sockets: disconnected, not gone.
    const gone = page.locator('.carnitrack-scale-disconnected[data-device="SCALE-05"]');
    await gone.waitFor({ timeout: 15_000 });
    assert.match((await gone.textContent()) ?? '', /^\s*SCALE-05\s*disconnected\s*1\.005 kg/);
    const seen = page.locator('.carnitrack-scale-seen[data-device="SCALE-05"]');
    assert.match((await seen.textContent()) ?? '', /^last seen \d\d:\d\d:\d\d \(\d+ (s|min) ago\) at 127\.0\.0\.1 · closed by the scale\s*Forget$/);
    // A scale on the Cloud's session that drops off: the session is still the Cloud's, the scale is marked gone beside it.
    cloud.startSession({ cloudSessionId: 'session-gone', deviceId: 'SCALE-06', animalTag: 'A-606' });
    await page.locator('.carnitrack-session', { hasText: 'SCALE-06 · A-606 · active · scale disconnected' }).waitFor({ timeout: 15_000 });
    const layout = await narrow();
    await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'carnitrack-tab-disconnected-320.png') });
    await wide();
    assert.deepEqual(layout.broken, [], 'scale cells on one line at 320 px, a disconnected scale too');
    assert.ok(layout.overflow <= 0, `nothing wider than the tab at 320 px (${layout.overflow} px over)`);
    // The same in /carnitrack/devices (what the tab reads), with the login the editor has.
    const devices = await page.evaluate(
      () =>
        new Promise<Array<{ deviceId: string; health: string; lastSeenAt: string; sourceIp: string }>>((resolve) =>
          (window as unknown as { $: { getJSON(u: string, cb: (d: never) => void): void } }).$.getJSON('carnitrack/devices', resolve),
        ),
    );
    const five = devices.find((d) => d.deviceId === 'SCALE-05')!;
    assert.deepEqual([five.health, five.sourceIp], ['disconnected', '127.0.0.1']);
    assert.ok(Date.parse(five.lastSeenAt) <= Date.now());
    // Forget: the scale leaves the tab; the others stay.
    await page.locator('.carnitrack-forget[data-device="SCALE-05"]').click();
    await page.locator('.carnitrack-notice', { hasText: 'SCALE-05 forgotten' }).waitFor({ timeout: 10_000 });
    await waitFor(async () => (await gone.count()) === 0, 'SCALE-05 gone from the tab', 10_000);
    assert.equal(await page.locator('.carnitrack-scale[data-device="SCALE-04"]').count(), 1, 'the others stay');
    // Clean up for the tests after this one (a disconnected scale becomes a problem after 2 min).
    for (const id of ['SCALE-04', 'SCALE-06']) assert.equal(await editorAjax('DELETE', `carnitrack/scales/${id}`), 200);
    cloud.endSession('SCALE-06');
  });

  it('had no errors in the browser console', () => {
    assert.deepEqual(consoleErrors, []);
  });

  it('shows a dialog in Turkish when the browser asks for Turkish', async () => {
    const tr = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale: 'tr-TR' });
    try {
      await login(tr);
      await tr.locator('.red-ui-tab', { hasText: 'CarniTrack Edge' }).first().click();
      // Node statuses in the editor's language, whatever the runtime's.
      await waitFor(async () => (await statusOf(tr, 'CarniTrack Cloud')) === 'bağlı', 'the Turkish cloud-link status', 15_000);
      assert.match(await statusOf(tr, 'DP-401 scales'), /^terazi: \d+/);
      await tr.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('carnitrack'));
      await tr.locator('.carnitrack-sidebar', { hasText: 'sorun yok' }).waitFor({ timeout: 10_000 });
      // Figures in Turkish: a decimal comma in weights, Turkish units in the settings in use.
      await tr.locator('.carnitrack-scale').first().waitFor({ timeout: 10_000 });
      const trTab = (await tr.locator('.carnitrack-sidebar').textContent()) ?? '';
      assert.match(trTab, /\d,\d{3} kg/, 'weights with a decimal comma');
      assert.doesNotMatch(trTab, /\d\.\d{3} kg/, 'no decimal point in a weight');
      assert.match(trTab, /: 30 sn\b/, 'seconds as sn');
      await tr.locator('#red-ui-workspace-chart').screenshot({ path: path.join(artifacts, 'statuses-tr.png') });
      const node = tr.locator('.red-ui-flow-node-group').filter({ hasText: 'DP-401 scales' }).first();
      await node.dblclick();
      await tr.waitForSelector('.red-ui-tray-body', { state: 'visible' });
      const dialog = (await tr.locator('.red-ui-tray-body').textContent()) ?? '';
      assert.match(dialog, /Ham ağırlık birimi/);
      assert.match(dialog, /Terazi saat dilimi/);
      assert.match(dialog, /Şu anki ayarlar: /, 'the settings in use, in Turkish');
      // The units beside the fields in Turkish too, as the tab says them.
      assert.equal(await tr.locator('#node-input-staleAfterS + .carnitrack-unit').textContent(), 'sn');
      assert.equal(await tr.locator('#node-input-missingAfterMin + .carnitrack-unit').textContent(), 'dk');
      assert.match(dialog, /Kayıp sayılma/);
      await tr.locator('.red-ui-tray').screenshot({ path: path.join(artifacts, 'edit-dialog-tr.png') });
    } catch (err) {
      await tr.screenshot({ path: path.join(artifacts, 'failed-turkish-page.png') });
      throw err;
    } finally {
      await tr.close();
    }
  });

  it('answers /carnitrack/health 503 while the tab shows an error-level problem, in the same words (two scales with one id)', async () => {
    const health = async (): Promise<{ status: number; body: { status: string; problems: string[] } }> => {
      const res = await fetch(new URL('carnitrack/health', base).href);
      return { status: res.status, body: (await res.json()) as { status: string; problems: string[] } };
    };
    assert.equal((await health()).status, 200, 'healthy before');
    await page.evaluate(() => (window as unknown as { RED: { sidebar: { show(id: string): void } } }).RED.sidebar.show('carnitrack'));
    // Two scales configured as SCALE-07, at two addresses: the second takes the id while the first is alive.
    const first = await ScaleClient.connect(tcpPort, '127.0.0.1');
    first.write('SCALE-07HB');
    await waitFor(() => output.includes('SCALE-07 connected from 127.0.0.1'), 'the first SCALE-07', 10_000);
    const second = await ScaleClient.connect(tcpPort, '127.0.0.2');
    second.write('SCALE-07HB');
    try {
      const problem = page.locator('.carnitrack-problem-id-conflict');
      await problem.waitFor({ timeout: 15_000 });
      const shown = ((await problem.textContent()) ?? '').trim();
      const h = await health();
      assert.equal(h.status, 503);
      assert.equal(h.body.status, 'unhealthy');
      assert.deepEqual(h.body.problems, [shown], 'the route says what the tab shows, word for word');
      assert.match(shown, /^DP-401 scales: two scales register as SCALE-07 \(from 127\.0\.0\.1, 127\.0\.0\.2\)/);
      assert.equal(await problem.evaluate((el) => getComputedStyle(el).color), 'rgb(204, 51, 51)', 'in red, an error');
      await page.locator('#red-ui-sidebar').screenshot({ path: path.join(artifacts, 'carnitrack-tab-health.png') });
    } finally {
      first.destroy();
      second.destroy();
    }
    // The conflict is a problem for 2 min after the last take-over; the next test deploys another flow.
  });

  it('runs the dashboard example on FlowFuse Dashboard 2: the latest weight per scale and the backlog', async () => {
    // The dashboard example is the default flow plus a dashboard: it replaces the default flow.
    await page.evaluate(() => {
      const RED = (window as unknown as { RED: { workspaces: { active(): string; delete(ws: unknown): void }; nodes: { workspace(id: string): unknown } } })
        .RED;
      let edge: unknown = null;
      (RED.nodes as unknown as { eachWorkspace(cb: (ws: { label: string }) => void): void }).eachWorkspace((ws) => {
        if (ws.label === 'CarniTrack Edge') edge = ws;
      });
      RED.workspaces.delete(edge);
    });
    await importAndDeploy('carnitrack-dashboard');
    // The old flow's site config node is left unused: the editor asks, a person confirms.
    const confirm = page.locator('#red-ui-deploy-dialog-confirm-deploy-deploy');
    await confirm.waitFor({ timeout: 5_000 }).then(
      () => confirm.click(),
      () => undefined,
    );
    await waitFor(
      () => cloud.connections === 1 && /Started flows/.test(output.slice(output.lastIndexOf('Stopped flows'))),
      'the dashboard flow deployed and linked',
      30_000,
    );

    const sim = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: 'SCALE-03', rate: 4, maxWeighings: 3, duplicateProbability: 0, seed: 13 });
    sims.push(sim);
    sim.start();
    await waitFor(() => sim.done, 'three OKs on the dashboard flow', 30_000);
    const dash = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
    try {
      await dash.goto(new URL('dashboard/', base).href);
      // One more weighing once the page listens: the table shows the latest per scale.
      const more = new ScaleSimulator({ host: '127.0.0.1', port: tcpPort, deviceId: 'SCALE-03', rate: 4, maxWeighings: 2, duplicateProbability: 0, seed: 14 });
      sims.push(more);
      await dash.getByText('Events waiting for the Cloud').waitFor({ timeout: 30_000 });
      more.start();
      await dash.locator('table', { hasText: 'SCALE-03' }).waitFor({ timeout: 30_000 });
      assert.match((await dash.locator('table').first().textContent()) ?? '', /SCALE-03.*\d+\.\d{3}/s);
      // event-store reports its figures every 10 s: the backlog row gets a number.
      const backlogRow = dash.locator('.nrdb-ui-widget.nrdb-ui-text', { hasText: 'Events waiting for the Cloud' });
      await waitFor(async () => /Events waiting for the Cloud\s*\d+\s*$/.test((await backlogRow.textContent()) ?? ''), 'the backlog figure', 25_000);
      await dash.screenshot({ path: path.join(artifacts, 'dashboard.png') });
    } catch (err) {
      await dash.screenshot({ path: path.join(artifacts, 'failed-dashboard.png') });
      throw err;
    } finally {
      await dash.close();
    }
  });
});
