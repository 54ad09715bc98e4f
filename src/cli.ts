import { isClientCommand, runClient } from './client.js';
import { ConfigError, loadConfig, usage } from './config/load.js';
import { closeLogFile, logger, openLogFile } from './log.js';
import { AuthDataError } from './persistence/auth-data.js';
import { OwlNode } from './node.js';
import { DataDirRefusedError } from './persistence/files.js';
import { VERSION } from './version.js';

/**
 * `owlcache [flags]`: starts one node with owlcache.conf and flags, prints what
 * it is and where it listens, and stops cleanly on SIGINT / SIGTERM (exit 0).
 * Exit codes: 2 = bad configuration, an unusable auth.json or a refused data directory
 * (held by another process, writable by others), 1 = could not start.
 */
async function main(argv: string[]): Promise<number> {
  if (isClientCommand(argv[0])) {
    return runClient(
      argv[0],
      argv.slice(1),
      (l) => process.stdout.write(`${l}\n`),
      (l) => process.stderr.write(`${l}\n`),
    );
  }
  let loaded;
  try {
    loaded = loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`owlcache: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if ('kind' in loaded) {
    process.stdout.write(loaded.kind === 'help' ? `${usage()}\n` : `owlcache ${VERSION}\n`);
    return 0;
  }
  const { config, warnings } = loaded;
  if (config.Logfile.trim() !== '') {
    try {
      openLogFile(config.Logfile);
    } catch (err) {
      process.stderr.write(`owlcache: cannot open the log folder ${config.Logfile}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const log = logger('node');
  for (const w of warnings) log.warn('%s', w);

  // A signal during the start (a large data directory loads) calls the start off before it writes anything; after it, stops the node.
  const startAbort = new AbortController();
  let stopSignal: string | null = null;
  let stopNode: ((signal: string) => void) | null = null;
  const onSignal = (signal: string) => {
    if (stopNode !== null) return stopNode(signal);
    if (stopSignal !== null) return;
    stopSignal = signal;
    log.info('%s received while starting: stopping', signal);
    startAbort.abort(new Error(`${signal} received while starting`));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let started;
  try {
    started = await OwlNode.start(config, { signal: startAbort.signal });
  } catch (err) {
    if (startAbort.signal.aborted) {
      // Nothing was written; the lock is released: a clean stop.
      log.info('stopped before the start completed');
      process.stdout.write(`owlcache: ${stopSignal} received while starting: stopped, nothing written\n`);
      await closeLogFile();
      return 0;
    }
    process.stderr.write(`owlcache: cannot start: ${(err as Error).message}\n`);
    await closeLogFile();
    // A damaged auth.json or a refused data directory is for the operator to fix, like a bad setting.
    return err instanceof AuthDataError || err instanceof DataDirRefusedError ? 2 : 1;
  }
  const { node, info } = started;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`owlcache ${VERSION} node ${info.name} (id ${info.nodeId})`);
  out(`config file: ${config.configFile ?? '(none, defaults and flags)'}`);
  out(`data directory: ${info.dataDir}`);
  const l = info.loaded;
  out(
    `loaded ${l.keys} keys (${l.stubs} tombstones/stubs) in ${l.ms} ms from the data directory` +
      (l.movedAside.length > 0 ? `; damaged files moved aside: ${l.movedAside.join(', ')}` : '') +
      (l.lostRecords > 0 ? `; ${l.lostRecords} record(s) lost to damage` : '') +
      (l.tornLogs > 0 ? `; dropped ${l.tornLogs} torn append-log tail(s)` : ''),
  );
  out(`mode: ${config.GroupWorkMode}`);
  out(`HTTP${config.Open_Https ? 'S' : ''} listening on ${info.http.address}:${info.http.port} (ResponseHost ${config.ResponseHost}:${info.http.port})`);
  if (info.tcp !== null) {
    out(
      `TCP listening on ${info.tcp.address}:${info.tcp.port} (ResponseHost ${config.ResponseHost}:${info.tcp.port}; no authentication, CloseTcp 0 turns it off)`,
    );
    out(`TCP accepts reads from any address and ${info.tcpWrites}`);
  }
  if (info.gossip !== null)
    out(`local member ${info.gossip} (gossip address for other nodes' server_group_config.json; data deltas on UDP ${info.dataGossipPort})`);
  if (info.resp !== null) out(`RESP listening on ${info.resp.address}:${info.resp.port} (Redis protocol; AUTH with the node's password)`);
  if (info.generatedPassword !== null) {
    out(`generated password (shown once; kept in ${info.dataDir}/auth.json): ${info.generatedPassword}`);
  }
  out('owlcache ready');

  return new Promise<number>((resolve) => {
    let stopping = false;
    stopNode = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info('%s received, stopping', signal);
      node
        .stop()
        .then(() => log.info('stopped'))
        .catch((err: unknown) => log.error('error while stopping: %s', (err as Error).message))
        .finally(() => {
          void closeLogFile().then(() => resolve(0));
        });
    };
    // A signal that came after the start's last check (the cluster was starting): stop now.
    if (stopSignal !== null) stopNode(stopSignal);
  });
}

process.on('unhandledRejection', (reason) => {
  logger('node').error('unhandled rejection: %s', (reason as Error)?.stack ?? String(reason));
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`owlcache: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
