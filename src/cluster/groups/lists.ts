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

export interface ServerLists {
  /** The explicit node list (HTTP addresses): /group_data/'s nodes in owlcache mode. */
  owlcache: ServerList;
  /** The gossip seed list kept with /server/?group_type=gossip. */
  gossip: ServerList;
}

export function owlcacheListFile(dataDir: string, mode: GroupWorkMode): string {
  return join(dataDir, mode === 'gossip' ? SERVER_GROUP_OWLCACHE_FILE : SERVER_GROUP_FILE);
}

export function gossipListFile(dataDir: string): string {
  return join(dataDir, SERVER_GROUP_GOSSIP_FILE);
}

export function openServerLists(dataDir: string, mode: GroupWorkMode, clock: Clock): ServerLists {
  return {
    owlcache: ServerList.open(owlcacheListFile(dataDir, mode), 'owlcache', clock),
    gossip: ServerList.open(gossipListFile(dataDir), 'gossip', clock),
  };
}
