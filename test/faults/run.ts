import { formatSummary, runFaults } from './harness.js';

/**
 * `npm run test:faults` (node dist/test/faults/run.js): the long fault run.
 *
 *   FAULT_MINUTES  length of the fault phase in minutes (default 2)
 *   FAULT_COUNT    faults injected (default: one per 8 s of fault phase, at least 10)
 *   FAULT_SEED     replays a run's fault plan and client choices
 *   FAULT_NET      "loopback": nodes on 127.0.0.1, pauses instead of network faults
 *   FAULT_KEEP     "1": keep the run folder (data directories, node logs, history)
 *
 * Exits 0 when the cluster converged with no violation, 1 otherwise.
 */

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`${name} must be a positive number, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return v;
}

async function main(): Promise<number> {
  const minutes = num('FAULT_MINUTES', 2);
  const phaseMs = Math.round(minutes * 60_000);
  const faults = Math.round(num('FAULT_COUNT', Math.max(10, Math.round(phaseMs / 8000))));
  const seed = process.env.FAULT_SEED ? Math.round(num('FAULT_SEED', 1)) : undefined;
  const summary = await runFaults({
    seed,
    faults,
    phaseMs,
    forceLoopback: process.env.FAULT_NET === 'loopback',
    keep: process.env.FAULT_KEEP === '1',
  });
  process.stdout.write(`${formatSummary(summary)}\n`);
  return summary.converged && summary.violations.length === 0 && summary.errors.length === 0 ? 0 : 1;
}

// `node --test dist/test/` runs every file under a test/ folder: there, this file must not start a run.
if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fault run failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
