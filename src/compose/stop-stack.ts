import { logger } from '../log.js';

const log = logger('node');

/**
 * What the start has built, to be stopped in reverse: each part is pushed as
 * soon as it holds a resource (a lock, a file, a port), so a start that fails
 * half-way undoes exactly what it did, and a normal stop runs the same list.
 * A step that fails is logged and the next one still runs: a port that will
 * not close must not keep the final snapshot from being written.
 */
export class StopStack {
  private readonly steps: { name: string; run: () => unknown }[] = [];
  private running: Promise<void> | null = null;

  push(name: string, run: () => unknown): void {
    if (this.running !== null) throw new Error(`${name} is started while the node stops`);
    this.steps.push({ name, run });
  }

  /** Runs every step, last pushed first; the same promise when called again. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) {
        try {
          await step.run();
        } catch (err) {
          log.warn('stopping %s: %s', step.name, (err as Error).message);
        }
      }
    })();
    return this.running;
  }
}
