/**
 * The outcome of adding an address to a node list or removing one from it:
 * made by the cluster's lists (src/cluster/groups/server-list.ts), reported by
 * the `/server/` route (src/api/http/server-route.ts). Kept outside both so
 * neither layer imports the other.
 */
export type ListChange = { ok: true; address: string } | { ok: false; status: 404 | 500; message: string };
