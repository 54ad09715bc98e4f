import { lstatSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes of the files in the data directory (one level: it holds no folders of its own). */
export function dataDirBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names.slice(0, 100_000)) {
    try {
      const st = lstatSync(join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      // Removed meanwhile (a snapshot renamed over, an old log generation deleted).
    }
  }
  return total;
}

/** Total and free bytes (free for this user) of the file system holding `dir`, or nulls. */
export function diskSpace(dir: string): { total: number | null; free: number | null } {
  try {
    const s = statfsSync(dir);
    return { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
  } catch {
    return { total: null, free: null };
  }
}
