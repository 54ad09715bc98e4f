import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConf } from './template.js';

// `npm run conf` (from the repo root): rewrites the shipped owlcache.conf from the settings table.
writeFileSync(join(process.cwd(), 'owlcache.conf'), renderConf());
