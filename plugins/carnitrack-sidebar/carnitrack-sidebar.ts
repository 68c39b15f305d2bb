import type { NodeAPI } from 'node-red';
import { registerAdminRoutes } from '../../nodes/shared/admin-routes';

/**
 * The editor's CarniTrack sidebar tab (its editor part is carnitrack-sidebar.html). At
 * runtime it only makes sure the admin routes it reads are there.
 */
export = function register(RED: NodeAPI): void {
  (RED as unknown as { plugins: { registerPlugin(id: string, def: object): void } }).plugins.registerPlugin('carnitrack-sidebar', {
    type: 'carnitrack-sidebar',
  });
  registerAdminRoutes(RED);
};
