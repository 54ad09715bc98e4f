import createDebug from 'debug';
import { mkdirSync } from 'node:fs';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import { format } from 'node:util';

/**
 * Logging: every area logs through a `debug` namespace (`owlcache:<area>`), so
 * DEBUG=owlcache:* shows it on stderr as usual. `info`/`warn`/`error` lines also
 * go to stderr without DEBUG, and, once `openLogFile` is called, to a rotating
 * log file in Logfile.
 */
export interface Logger {
  debug: (fmt: string, ...args: unknown[]) => void;
  info: (fmt: string, ...args: unknown[]) => void;
  warn: (fmt: string, ...args: unknown[]) => void;
  error: (fmt: string, ...args: unknown[]) => void;
}

let file: RotatingFileStream | null = null;
let quiet = false;

/** Opens (or reopens) the rotating log file `owlcache.log` in dir: daily rotation, 10 MB per file, 14 files kept. */
export function openLogFile(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  void closeLogFile();
  file = createStream('owlcache.log', { path: dir, size: '10M', interval: '1d', maxFiles: 14, mode: 0o600 });
  file.on('error', (err) => {
    process.stderr.write(`owlcache: log file error: ${err.message}\n`);
  });
  if (file.listenerCount('warning') === 0) file.on('warning', () => {});
}

export function closeLogFile(): Promise<void> {
  const f = file;
  file = null;
  if (f === null) return Promise.resolve();
  return new Promise((resolve) => {
    f.end(() => resolve());
  });
}

/** Silence stderr copies of info lines (tests, client subcommands). */
export function setQuiet(q: boolean): void {
  quiet = q;
}

function write(level: string, area: string, fmt: string, args: unknown[]): void {
  const line = `${new Date().toISOString()} ${level} [${area}] ${format(fmt, ...args)}\n`;
  if (file !== null) file.write(line);
  if (level !== 'INFO' || !quiet) process.stderr.write(line);
}

export function logger(area: string): Logger {
  const dbg = createDebug(`owlcache:${area}`);
  return {
    debug: (fmt, ...args) => dbg(fmt, ...args),
    info: (fmt, ...args) => write('INFO', area, fmt, args),
    warn: (fmt, ...args) => write('WARN', area, fmt, args),
    error: (fmt, ...args) => write('ERROR', area, fmt, args),
  };
}
