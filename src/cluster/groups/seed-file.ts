import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { checkAddress } from './address.js';
import { SERVER_GROUP_FILE, SERVER_GROUP_GOSSIP_FILE } from '../../persistence/layout.js';
import { LIST_FORMAT_HINT, readListFile } from './list-file.js';

/**
 * Gossip mode's seeds: the peers' gossip `host:port` a node contacts to join
 * a cluster. They are the entries of server_group_config.json (the file the
 * original's docs tell users to write) together with those of
 * server_group_gossip_config.json (the original's later file, also what
 * `/server/?group_type=gossip` edits). Nothing here stops a node from starting:
 * every problem is reported as a line naming its file, and the membership layer
 * keeps trying the seeds it has.
 */

export interface SeedsLoad {
  /** Distinct seeds, server_group_config.json's first. */
  seeds: string[];
  /** What is wrong, one line each, naming the file; empty when all is well. */
  problems: string[];
  /** The file each seed came from (the first one naming it). */
  sources: Record<string, string>;
  /**
   * The seeds of server_group_config.json, which the node never rewrites: kept
   * for good. The others are the gossip list's, which /server/ edits; the
   * cluster follows that list as it changes.
   */
  fixed: string[];
}

export function loadSeeds(dataDir: string): SeedsLoad {
  const files = [join(dataDir, SERVER_GROUP_FILE), join(dataDir, SERVER_GROUP_GOSSIP_FILE)];
  const seeds: string[] = [];
  const sources: Record<string, string> = {};
  const problems: string[] = [];
  let present = 0;
  for (const file of files) {
    const read = readListFile(file, 'gossip');
    if (read.state !== 'missing') present += 1;
    problems.push(...read.problems);
    for (const e of read.entries) {
      if (Object.hasOwn(sources, e.address)) continue;
      sources[e.address] = file;
      seeds.push(e.address);
    }
  }
  if (present === 0) {
    problems.push(
      `no gossip seed file: ${files[0]} does not exist (nor ${files[1]}); this node starts on its own and waits for others to join it. ` +
        `To join a cluster, write the gossip host:port of a running node into ${files[0]} (${LIST_FORMAT_HINT}).`,
    );
  } else if (seeds.length === 0) {
    problems.push(`no usable gossip seed in ${files[0]} or ${files[1]}; this node starts on its own and waits for others to join it`);
  }
  return { seeds, problems, sources, fixed: seeds.filter((s) => sources[s] === files[0]) };
}

/**
 * Looks up the host names among the seeds (bounded by `timeoutMs`) and reports
 * those that do not resolve: a seed that can never be reached, said at start
 * rather than discovered by silence. IP addresses are not probed here; whether
 * a peer answers is the membership layer's to find out (see seedsNotAnswering).
 */
export async function checkSeedHosts(
  load: Pick<SeedsLoad, 'seeds' | 'sources'>,
  timeoutMs = 3000,
  resolve: (host: string) => Promise<unknown> = (host) => lookup(host),
): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    load.seeds.map(async (seed) => {
      const c = checkAddress(seed, 'gossip');
      if (!c.ok || isIP(c.endpoint.host) !== 0) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: `no answer in ${timeoutMs} ms` })), timeoutMs);
      });
      try {
        await Promise.race([resolve(c.endpoint.host), timeout]);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        problems.push(
          `gossip seed ${seed} (from ${load.sources[seed] ?? 'the seed list'}): host name ${c.endpoint.host} does not resolve (${e.code ?? e.message}); still trying`,
        );
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return problems.sort();
}

/**
 * The log line for seeds that did not answer a join attempt (for the
 * membership layer, which retries them): names the seeds and their file.
 */
export function seedsNotAnswering(load: Pick<SeedsLoad, 'sources'>, unanswered: readonly string[], retryInMs: number): string {
  const byFile = new Map<string, string[]>();
  for (const s of unanswered) {
    const f = load.sources[s] ?? 'the seed list';
    byFile.set(f, [...(byFile.get(f) ?? []), s]);
  }
  const parts = [...byFile].map(([f, list]) => `${list.join(', ')} (from ${f})`);
  return `gossip seed${unanswered.length === 1 ? '' : 's'} not answering: ${parts.join('; ')}; check that ${unanswered.length === 1 ? 'that node runs' : 'those nodes run'} and the address is its gossip host:port (printed at its start as "local member HOST:PORT"); trying again in ${Math.round(retryInMs / 1000)} s`;
}
