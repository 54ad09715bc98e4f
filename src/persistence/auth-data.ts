import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';
import { AUTH_DATA_FILE } from './layout.js';

/**
 * `auth.json` in the data directory: this node's id, and the password and token
 * secret the node generated because the conf left them empty. Owner-only
 * permissions; written atomically.
 */
export const AUTH_FILE = AUTH_DATA_FILE;
export const AUTH_FORMAT = 1;

export interface AuthData {
  format: number;
  /** Stable id of this node: the HLC tie-break and the node's identity in the cluster. */
  nodeId: string;
  /** Generated password (only when Pass is empty in the conf). */
  password?: string;
  /** Generated token secret (only when Tonken_jwt_secret is empty in the conf). */
  jwtSecret?: string;
}

export interface AuthDataResult {
  data: AuthData;
  /** Set when the password was generated now: print it once. */
  generatedPassword: boolean;
  /** Created or completed here and not written yet (write = false): saveAuthData once the node may write. */
  unsaved: boolean;
}

/** A strong password that satisfies OwlCache's rules (≥ 10 characters, not only digits). */
function generatePassword(): string {
  return `owl-${randomBytes(18).toString('base64url')}`;
}

/** Reads auth.json, generating what is missing; writes it back unless `write` is false (then see `unsaved`). */
export function loadOrCreateAuthData(dir: string, needPassword: boolean, needSecret: boolean, write = true): AuthDataResult {
  const file = join(dir, AUTH_FILE);
  let data: AuthData | null = null;
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<AuthData>;
    if (typeof parsed.nodeId !== 'string' || parsed.nodeId === '') throw new Error(`${file}: no nodeId; move the file aside to start afresh`);
    if (parsed.format !== AUTH_FORMAT) throw new Error(`${file}: format ${String(parsed.format)} is not ${AUTH_FORMAT}`);
    data = parsed as AuthData;
  }
  let changed = data === null;
  data ??= { format: AUTH_FORMAT, nodeId: randomBytes(8).toString('hex') };
  let generatedPassword = false;
  if (needPassword && !data.password) {
    data.password = generatePassword();
    generatedPassword = true;
    changed = true;
  }
  if (needSecret && !data.jwtSecret) {
    data.jwtSecret = randomBytes(32).toString('base64url');
    changed = true;
  }
  if (changed && write) saveAuthData(dir, data);
  return { data, generatedPassword, unsaved: changed && !write };
}

export function saveAuthData(dir: string, data: AuthData): void {
  writeFileAtomic(join(dir, AUTH_FILE), JSON.stringify(data, null, 2) + '\n');
}
