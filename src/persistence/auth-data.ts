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

/**
 * auth.json exists but cannot be used. The node refuses to start (exit 2)
 * rather than make a new identity over it: the operator decides.
 */
export class AuthDataError extends Error {
  constructor(file: string, problem: string) {
    super(
      `${file}: ${problem}. This file holds the node's id (and a generated password or token secret, if any); ` +
        'restore it from a backup, or move it aside to start with a new node id (and a new generated password, printed once)',
    );
    this.name = 'AuthDataError';
  }
}

function readAuthData(file: string): AuthData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new AuthDataError(file, e instanceof SyntaxError ? `not valid JSON (${e.message}), perhaps truncated` : `cannot be read (${e.code ?? e.message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AuthDataError(file, 'not a JSON object');
  const p = parsed as Partial<AuthData>;
  if (typeof p.nodeId !== 'string' || p.nodeId === '') throw new AuthDataError(file, 'no nodeId');
  if (p.format !== AUTH_FORMAT) throw new AuthDataError(file, `format ${String(p.format)} is not ${AUTH_FORMAT}`);
  if (p.password !== undefined && typeof p.password !== 'string') throw new AuthDataError(file, 'password is not a string');
  if (p.jwtSecret !== undefined && typeof p.jwtSecret !== 'string') throw new AuthDataError(file, 'jwtSecret is not a string');
  return p as AuthData;
}

/** Reads auth.json, generating what is missing; writes it back unless `write` is false (then see `unsaved`). */
export function loadOrCreateAuthData(dir: string, needPassword: boolean, needSecret: boolean, write = true): AuthDataResult {
  const file = join(dir, AUTH_FILE);
  let data: AuthData | null = null;
  if (existsSync(file)) data = readAuthData(file);
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
  writeFileAtomic(join(dir, AUTH_FILE), `${JSON.stringify(data, null, 2)}\n`);
}
