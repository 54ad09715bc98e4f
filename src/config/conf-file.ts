/**
 * OwlCache's conf format: `[Section]` lines, `Name value` pairs separated by
 * white space, `#` comment lines. The original reads only the first word after
 * the name; the value here is the rest of the line, trimmed, so a password may
 * contain spaces. Inline `#` is part of the value (passwords may contain it).
 */

export interface ConfLine {
  name: string;
  value: string;
  line: number;
  section: string | null;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses conf text. Throws ConfigError (with the line) for lines that are neither comment, section nor setting. */
export function parseConfText(text: string, fileName: string): ConfLine[] {
  const out: ConfLine[] = [];
  let section: string | null = null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    const lineNo = i + 1;
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed.startsWith('[')) {
      const m = /^\[([^\]]*)\]$/.exec(trimmed);
      if (!m) throw new ConfigError(`${fileName}:${lineNo}: malformed section header ${JSON.stringify(trimmed)} (expected [Name])`);
      section = m[1]!.trim();
      continue;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\s+(.*))?$/.exec(trimmed);
    if (!m) throw new ConfigError(`${fileName}:${lineNo}: cannot read ${JSON.stringify(trimmed.slice(0, 80))} (expected "Name value")`);
    out.push({ name: m[1]!, value: (m[2] ?? '').trim(), line: lineNo, section });
  }
  return out;
}

/** Decodes a conf file's bytes; rejects text that is not UTF-8 (pure ASCII is UTF-8). */
export function decodeConfBytes(bytes: Uint8Array, fileName: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`${fileName}: not valid UTF-8 text`);
  }
}
