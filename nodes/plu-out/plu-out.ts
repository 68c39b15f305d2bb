import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { PluCatalog } from '../../lib/plu/plu-catalog';
import { formatPluFile, formatPluLine, parseTemplate, type FormatOptions, type PluItem } from '../../lib/plu/plu-format';
import { toPluItem } from '../../lib/plu/plu-item';
import { isSupportedEncoding } from '../../lib/dp401/weighing-line';
import { writeFileAtomic } from '../../lib/util/atomic-write';
import { fieldText, NumberFields } from '../../lib/util/config-fields';
import type { Lease } from '../../lib/db/database-pool';
import { siteOf } from '../shared/site-node';
import { onInput, payloadObject, type Send } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { registerAdminRoutes } from '../shared/admin-routes';
import { track, trackBroken } from '../shared/live-registry';

type PluOutDef = NodeDef & Record<string, unknown> & { site?: string };

export = function register(RED: NodeAPI): void {
  function PluOutNode(this: Node, config: PluOutDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new ThrottledStatus((s: NodeStatus) => node.status(s), 250);
    const f = new NumberFields(config, { debounceS: 2 });
    const debounceMs = f.read('debounceS', 0, 3600, false) * 1000;
    const encoding = fieldText(config.encoding, 'windows-1254');
    if (!isSupportedEncoding(encoding)) f.errors.push({ field: 'encoding', message: `encoding "${encoding}" is not known (try windows-1254)` });
    const template = parseTemplate(fieldText(config.template, ''));
    if (template.error) f.errors.push({ field: 'template', message: `template: ${template.error}` });
    const filename = fieldText(config.filename, 'plu.txt');
    if (/[\\/]/.test(filename) || filename.startsWith('.')) f.errors.push({ field: 'filename', message: `filename "${filename}" must be a plain file name` });
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const outputDir = path.resolve(userDir, fieldText(config.outputDir, process.env.PLU_OUTPUT_DIR || './generated'));
    const file = path.join(outputDir, filename);
    const format: FormatOptions = { encoding, truncateNames: config.truncateNames === true || config.truncateNames === 'true', template: template.fields };
    const site = siteOf(RED, config.site);

    let lease: Lease | null = null;
    let catalog: PluCatalog | null = null;
    let timer: NodeJS.Timeout | null = null;
    let pendingSend: Send | null = null;
    let lastFileAt: Date | null = null;
    let lastError: string | null = null;
    let notRunning = '';

    const problem = typeof site === 'string' ? site : f.errors.map((e) => e.message).join('; ') || null;
    if (problem || typeof site === 'string') {
      notRunning = RED._('plu-out.errors.invalid', { problem: String(problem) });
      node.error(notRunning);
    } else {
      try {
        lease = site.lease();
        catalog = new PluCatalog(lease.db);
      } catch (err) {
        lease?.release();
        lease = null;
        notRunning = RED._('plu-out.errors.database', { error: (err as Error).message });
        node.error(notRunning);
      }
    }
    const untrack = catalog ? track('plus', node, catalog, { file, encoding, debounceS: debounceMs / 1000 }) : trackBroken(node, notRunning);

    const showStatus = (): void => {
      if (!catalog) return status.set({ fill: 'red', shape: 'ring', text: statusKey('plu-out.status.not-running') });
      const count = catalog.count();
      if (lastError) return status.set({ fill: 'red', shape: 'dot', text: statusKey('plu-out.status.write-failed') });
      const text = lastFileAt ? statusKey('plu-out.status.written', { count, when: lastFileAt.toTimeString().slice(0, 8) }) : statusKey('plu-out.status.never', { count });
      status.set({ fill: 'green', shape: 'dot', text });
    };

    /** Writes the file from the catalogue now; invalid items are left out and reported. */
    const writeNow = (send: Send): void => {
      if (!catalog) return;
      const { bytes, count, errors } = formatPluFile(catalog.all(), format);
      try {
        writeFileAtomic(file, bytes);
        lastFileAt = new Date();
        lastError = errors.length ? RED._('plu-out.errors.left-out', { count: errors.length }) : null;
        for (const e of errors) node.error(RED._('plu-out.errors.item', { error: e }), { topic: 'plu_refused', payload: { error: e } });
        send({ payload: bytes, filename: file, count, topic: 'plu_file' } as unknown as NodeMessageInFlow);
      } catch (err) {
        lastError = (err as Error).message;
        node.error(RED._('plu-out.errors.write', { file, error: lastError }));
      }
      showStatus();
    };

    const scheduleWrite = (send: Send): void => {
      pendingSend = send;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        const s = pendingSend;
        pendingSend = null;
        if (s) writeNow(s);
      }, debounceMs);
    };

    /** Reads and checks one item, naming the PLU and field when it cannot be written. */
    const accept = (raw: unknown): PluItem => {
      const { item, error } = toPluItem(raw);
      if (!item) throw new Error(error);
      const line = formatPluLine(item, format);
      if (!line.ok) throw new Error(line.error);
      return item;
    };

    onInput<NodeMessageInFlow>(
      node,
      (msg, send) => {
        if (!catalog) throw new Error(RED._('plu-out.errors.not-running'));
        const now = Date.now();
        const topic = String(msg.topic ?? '');
        switch (topic) {
          case 'plu_updated':
            catalog.upsert(accept(msg.payload), now);
            break;
          case 'plu_deleted': {
            const code = Number(payloadObject(msg).pluCode ?? msg.payload);
            if (!Number.isInteger(code)) throw new Error(RED._('plu-out.errors.delete'));
            if (!catalog.remove(code)) node.warn(RED._('plu-out.errors.unknown-plu', { code }));
            break;
          }
          case 'plu_catalog': {
            const items = payloadObject(msg).items;
            if (!Array.isArray(items)) throw new Error(RED._('plu-out.errors.catalog'));
            const good: PluItem[] = [];
            const refused: string[] = [];
            for (const raw of items) {
              try {
                good.push(accept(raw));
              } catch (err) {
                refused.push((err as Error).message);
              }
            }
            catalog.replaceAll(good, now);
            for (const r of refused) node.error(RED._('plu-out.errors.item', { error: r }), { topic: 'plu_refused', payload: { error: r } });
            break;
          }
          case 'write':
            writeNow(send);
            return;
          default:
            throw new Error(RED._('plu-out.errors.unknown-topic', { topic }));
        }
        showStatus();
        scheduleWrite(send);
      },
      (err) => {
        lastError = err.message;
        showStatus();
      },
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      untrack();
      if (timer) {
        // A change not yet written goes to disk now: the scale's file must match the catalogue.
        clearTimeout(timer);
        timer = null;
        if (pendingSend) writeNow(() => undefined);
      }
      lease?.release();
      lease = null;
      catalog = null;
      done();
    });

    showStatus();
  }

  RED.nodes.registerType('plu-out', PluOutNode);
  registerAdminRoutes(RED);
};
