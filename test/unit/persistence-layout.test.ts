import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  atomicTempFileOf,
  GOSSIP_MEMBERS_FILE,
  SERVER_GROUP_FILE,
  SERVER_GROUP_GOSSIP_FILE,
  SERVER_GROUP_OWLCACHE_FILE,
  versionsFileOf,
} from '../../src/persistence/layout.js';
import { LIST_FILES, listPaths } from '../../src/cluster/groups/lists.js';

describe('data directory layout: the names other layers use come from here', () => {
  it('names the cluster files as docs/data-directory.md lists them', () => {
    assert.deepEqual(
      [SERVER_GROUP_FILE, SERVER_GROUP_GOSSIP_FILE, SERVER_GROUP_OWLCACHE_FILE, GOSSIP_MEMBERS_FILE],
      ['server_group_config.json', 'server_group_gossip_config.json', 'server_group_owlcache_config.json', 'gossip_members.json'],
    );
  });

  it('the lists pick their files from these names by mode', () => {
    assert.equal(listPaths('/d', LIST_FILES.owlcache).owlcache, join('/d', SERVER_GROUP_FILE));
    assert.equal(listPaths('/d', LIST_FILES.gossip).owlcache, join('/d', SERVER_GROUP_OWLCACHE_FILE));
    assert.equal(listPaths('/d', LIST_FILES.owlcache).gossip, join('/d', SERVER_GROUP_GOSSIP_FILE));
    assert.equal(listPaths('/d', LIST_FILES.gossip).gossip, join('/d', SERVER_GROUP_GOSSIP_FILE));
  });

  it('derives side and temp files', () => {
    assert.equal(versionsFileOf('/d/server_group_config.json'), '/d/server_group_config.versions.json');
    assert.equal(versionsFileOf('/d/list'), '/d/list.versions.json');
    assert.equal(atomicTempFileOf('/d/auth.json', 42), '/d/auth.json.tmp-42');
  });
});
