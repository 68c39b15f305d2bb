import type { Node, NodeAPI, NodeDef } from 'node-red';
import { acquireDatabase, type Lease } from '../../lib/db/database-pool';
import { parseSiteSettings, type SiteSettings } from '../../lib/site/site-settings';
import { registerAdminRoutes } from '../shared/admin-routes';
import { track, trackBroken } from '../shared/live-registry';

type SiteDef = NodeDef & { siteId?: string; siteName?: string; databasePath?: string; durability?: string };

export = function register(RED: NodeAPI): void {
  function CarnitrackSiteNode(
    this: Node & { site: SiteSettings | null; problem: string | null; lease(o?: { mustExist?: boolean }): Lease },
    config: SiteDef,
  ): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const { settings, errors, usedDefaultSiteId } = parseSiteSettings(config, userDir);
    node.site = null;
    node.problem = null;
    let own: Lease | null = null;

    if (!settings) {
      node.problem = errors.map((e) => e.message).join('; ');
      node.error(RED._('carnitrack-site.errors.invalid', { problem: node.problem }));
    } else {
      if (usedDefaultSiteId) node.warn(RED._('carnitrack-site.errors.default-site-id', { siteId: settings.siteId }));
      try {
        // The config node's own lease opens the file now, so a bad path shows at deploy.
        own = acquireDatabase(settings.databaseFile, settings.durability);
        node.site = settings;
        node.log(RED._('carnitrack-site.log.opened', { file: settings.databaseFile, durability: settings.durability }));
      } catch (err) {
        node.problem = RED._('carnitrack-site.errors.open', { file: settings.databaseFile, error: (err as Error).message });
        node.error(node.problem);
      }
    }

    const untrack = node.site
      ? track('sites', node, node.site, {
          siteId: node.site.siteId,
          siteName: node.site.siteName,
          databaseFile: node.site.databaseFile,
          durability: node.site.durability,
        })
      : trackBroken(node, node.problem ?? '');

    node.lease = (o) => {
      if (!node.site) throw new Error(node.problem ?? 'site not configured');
      return acquireDatabase(node.site.databaseFile, node.site.durability, o);
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      untrack();
      try {
        own?.release();
      } finally {
        own = null;
        done();
      }
    });
  }

  registerAdminRoutes(RED);
  RED.nodes.registerType('carnitrack-site', CarnitrackSiteNode as unknown as (this: Node, config: NodeDef) => void);
};
