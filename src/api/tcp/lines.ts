/**
 * Splits a TCP byte stream into lines ending in `\n` (a `\r` before it is
 * dropped too), without re-encoding anything: a line is the exact bytes the
 * client sent. It is pull-based (`push` data, then `next` until null) so the
 * connection can stop taking lines while its answers are not being read.
 *
 * Lines that fit in one chunk come out as views of that chunk (no copy); only
 * a line spread over several chunks is joined. The data held is bounded by
 * `maxLine`: a longer line, finished or not, is reported as `overflow`.
 */

export type NextLine = Buffer | null | 'overflow';

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  /** Unconsumed data; the first chunk starts at `offset`. */
  private chunks: Buffer[] = [];
  private offset = 0;
  /** Unconsumed bytes already searched without finding `\n` (they are all in chunks[0..scanChunk)). */
  private scannedBytes = 0;
  private scanChunk = 0;
  private overflowed = false;

  constructor(readonly maxLine: number) {
    if (!(maxLine > 0)) throw new RangeError('maxLine must be positive');
  }

  push(chunk: Buffer): void {
    if (chunk.length > 0 && !this.overflowed) this.chunks.push(chunk);
  }

  /** Bytes received but not yet returned as lines. */
  get buffered(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n - this.offset;
  }

  /**
   * The next complete line without its terminator, null if more data is needed,
   * or 'overflow' once a line is longer than maxLine (then always 'overflow').
   */
  next(): NextLine {
    if (this.overflowed) return 'overflow';
    while (this.scanChunk < this.chunks.length) {
      const chunk = this.chunks[this.scanChunk]!;
      const from = this.scanChunk === 0 ? this.offset : 0;
      const nl = chunk.indexOf(LF, from);
      if (nl === -1) {
        this.scannedBytes += chunk.length - from;
        this.scanChunk += 1;
        // +1: the line's `\r` may be the last byte seen so far.
        if (this.scannedBytes > this.maxLine + 1) return this.overflow();
        continue;
      }
      const length = this.scannedBytes + (nl - from);
      let line: Buffer;
      if (this.scanChunk === 0) {
        line = chunk.subarray(this.offset, nl);
      } else {
        if (length > this.maxLine + 1) return this.overflow();
        line = Buffer.allocUnsafe(length);
        let at = this.chunks[0]!.copy(line, 0, this.offset);
        for (let i = 1; i < this.scanChunk; i++) at += this.chunks[i]!.copy(line, at);
        chunk.copy(line, at, 0, nl);
        this.chunks.splice(0, this.scanChunk);
      }
      this.scanChunk = 0;
      this.scannedBytes = 0;
      this.offset = nl + 1;
      if (this.offset === this.chunks[0]!.length) {
        this.chunks.shift();
        this.offset = 0;
      }
      const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
      if (end > this.maxLine) return this.overflow();
      return end === line.length ? line : line.subarray(0, end);
    }
    return null;
  }

  private overflow(): 'overflow' {
    this.overflowed = true;
    this.chunks = [];
    this.offset = 0;
    this.scanChunk = 0;
    this.scannedBytes = 0;
    return 'overflow';
  }
}
