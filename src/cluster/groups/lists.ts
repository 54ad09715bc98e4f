import { join } from 'node:path';
import { SERVER_GROUP_FILE, SERVER_GROUP_GOSSIP_FILE, SERVER_GROUP_OWLCACHE_FILE } from '../../persistence/layout.js';
import { ServerList, type Clock } from './server-list.js';

/**
 * Which file holds which list, by cluster mode (docs/architecture.md, "Cluster
 * modes"; the README's "Node list" shows the same table to users):
 *
 * | mode     | owlcache list (`/server/`, default group_type) | gossip list (`/server/?group_type=gossip`) | seeds read at start                      |
 * | -------- | ----------------------------------------------- | ------------------------------------------ | ---------------------------------------- |
 * | owlcache | server_group_config.json                        | server_group_gossip_config.json            | —                                        |
 * | gossip   | server_group_owlcache_config.json               | server_group_gossip_config.json            | server_group_config.json ∪ server_group_gossip_config.json |
 *
 * In gossip mode server_group_config.json is the seed file the user writes (the
 * original's documented setup); the node reads it and never rewrites it, so the
 * owlcache list moves to a file of its own there. Seeds added with
 * `/server/?group_type=gossip` go to server_group_gossip_config.json, which the
 * original's later versions use for the same purpose. The names are defined in
 * src/persistence/layout.ts with the rest of the data directory's.
 */
export type GroupWorkMode = 'owlcache' | 'gossip';

/** The two list files of one mode: a row of the table above. */
export interface ListFiles {
  owlcache: string;
  gossip: string;
}

/** The table above, by mode; the cluster mode (src/compose/cluster-mode.ts) takes its row. */
export const LIST_FILES: Readonly<Record<GroupWorkMode, ListFiles>> = {
  owlcache: { owlcache: SERVER_GROUP_FILE, gossip: SERVER_GROUP_GOSSIP_FILE },
  gossip: { owlcache: SERVER_GROUP_OWLCACHE_FILE, gossip: SERVER_GROUP_GOSSIP_FILE },
};

export interface ServerLists {
  /** The explicit node list (HTTP addresses): /group_data/'s nodes in owlcache mode. */
  owlcache: ServerList;
  /** The gossip seed list kept with /server/?group_type=gossip. */
  gossip: ServerList;
}

/** Where one mode's lists live in the data directory. */
export function listPaths(dataDir: string, files: ListFiles): ListFiles {
  return { owlcache: join(dataDir, files.owlcache), gossip: join(dataDir, files.gossip) };
}

export function openServerLists(dataDir: string, files: ListFiles, clock: Clock): ServerLists {
  const paths = listPaths(dataDir, files);
  return {
    owlcache: ServerList.open(paths.owlcache, 'owlcache', clock),
    gossip: ServerList.open(paths.gossip, 'gossip', clock),
  };
}
