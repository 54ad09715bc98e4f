import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench [-- name ...]`: runs each benchmark in its own process, one
 * after another (they load the machine; running them together would measure
 * nothing). Each prints its figures and ratios against a baseline from the same run.
 */
const ALL = ['http', 'persistence', 'resp', 'redis', 'tcp', 'membership', 'replication', 'memory', 'backup'];
/** Node flags a benchmark needs (memory measures bytes after a full garbage collection). */
const FLAGS: Record<string, string[]> = { memory: ['--expose-gc'] };
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;

let failed = 0;
for (const name of chosen) {
  const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  if (!existsSync(file)) {
    console.log(`# ${name}: not built (no bench/${name}.ts yet), skipped`);
    continue;
  }
  const code = await new Promise<number>((resolve) => {
    spawn(process.execPath, [...(FLAGS[name] ?? []), file], { stdio: 'inherit' }).on('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    console.log(`# ${name}: exited with ${code}`);
    failed += 1;
  }
  console.log('');
}
process.exit(failed === 0 ? 0 : 1);
