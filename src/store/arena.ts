/**
 * Bytes of many small records in few large buffers (docs/architecture.md,
 * "Store: memory layout"). A block is allocated from a size class (8-byte
 * steps up to 128 bytes, then eight classes per doubling, so rounding wastes
 * at most 1/8), carved from pages of its class; a freed block goes on its
 * page's free list and is reused first. A page with no block in use is given
 * back. Blocks larger than the largest class get a buffer of their own.
 *
 * Every block records its owner (a number the caller chooses, the store's slot),
 * so `compact()` can move the blocks of sparse pages into others and tell the
 * owner where its bytes went. Nothing outside the store may keep a view into a
 * page: a freed block is reused at once. Callers copy bytes out.
 *
 * A handle is a safe integer: page × 2^16 + block for a page's block, or
 * −(index + 1) for a buffer of its own.
 */

const BLOCKS_SHIFT = 65536;
/** The largest class; larger blocks get their own buffer. */
export const MAX_CLASS_BYTES = 16 * 1024;
const MIN_PAGE_BYTES = 64 * 1024;
const MAX_PAGE_BYTES = 512 * 1024;
/** What a buffer of its own costs besides its bytes (the Buffer and ArrayBuffer objects, the allocation). */
export const OWN_BUFFER_OVERHEAD = 160;
const NO_OWNER = 0xffffffff;

const CLASS_SIZES: number[] = (() => {
  const sizes: number[] = [];
  for (let s = 8; s <= 128; s += 8) sizes.push(s);
  for (let base = 128; base < MAX_CLASS_BYTES; base *= 2) {
    for (let i = 1; i <= 8; i++) sizes.push(base + (base / 8) * i);
  }
  return sizes;
})();

/** Size class index for `size` bytes (0 < size <= MAX_CLASS_BYTES), by a table for the small ones. */
const SMALL_CLASS = new Uint8Array(129);
for (let s = 0, c = 0; s <= 128; s++) {
  while (CLASS_SIZES[c]! < s) c++;
  SMALL_CLASS[s] = c;
}

function classOf(size: number): number {
  if (size <= 128) return SMALL_CLASS[size]!;
  // Eight classes per doubling above 128: find the doubling, then the eighth.
  const base = 2 ** Math.floor(Math.log2(size - 1));
  const step = base / 8;
  const within = Math.ceil((size - base) / step);
  let c = 16 + (Math.log2(base) - 7) * 8 + within - 1;
  // Floating point at exact powers of two: settle on the first class that holds `size`.
  while (CLASS_SIZES[c]! < size) c++;
  while (c > 0 && CLASS_SIZES[c - 1]! >= size) c--;
  return c;
}

/** Bytes a block for `size` bytes really takes (its class, or a buffer of its own). */
export function blockBytes(size: number): number {
  if (size > MAX_CLASS_BYTES) return size + OWN_BUFFER_OVERHEAD;
  return CLASS_SIZES[classOf(Math.max(1, size))]! + 4;
}

interface Page {
  readonly id: number;
  readonly cls: number;
  readonly size: number;
  readonly blocks: number;
  readonly buf: Buffer;
  /** Owner of each block, NO_OWNER while free. */
  readonly owners: Uint32Array;
  /** Blocks below `bump` were handed out at least once; the rest never were. */
  bump: number;
  /** First free block (a list threaded through the free blocks' first bytes), -1 if none. */
  freeHead: number;
  live: number;
  /** Position in its class's list of pages with room, -1 when full. */
  roomAt: number;
}

export class Arena {
  private pages: (Page | null)[] = [];
  private freePageIds: number[] = [];
  /** Per class, the pages that have a free block. */
  private readonly withRoom: Page[][] = CLASS_SIZES.map(() => []);
  private own: (Buffer | null)[] = [];
  private ownOwners: number[] = [];
  private freeOwnIds: number[] = [];
  private used = 0;
  private held = 0;
  private pageUsed = 0;
  private pageHeld = 0;
  private blockCount = 0;

  /** Bytes of the blocks in use, each at its class size plus its owner number (what the store counts against MaxMemory). */
  get usedBytes(): number {
    return this.used;
  }

  /** Bytes of every page and own buffer held, used or not (the arena's share of the RSS). */
  get heldBytes(): number {
    return this.held;
  }

  /** Blocks in use. */
  get blocks(): number {
    return this.blockCount;
  }

  /** A block of at least `size` bytes, owned by `owner` (0 <= owner < 2^32 - 1). */
  alloc(size: number, owner: number): number {
    this.blockCount += 1;
    if (size > MAX_CLASS_BYTES) {
      const buf = Buffer.allocUnsafeSlow(size);
      const id = this.freeOwnIds.pop() ?? this.own.length;
      this.own[id] = buf;
      this.ownOwners[id] = owner;
      this.used += size + OWN_BUFFER_OVERHEAD;
      this.held += size + OWN_BUFFER_OVERHEAD;
      return -(id + 1);
    }
    const cls = classOf(Math.max(1, size));
    const room = this.withRoom[cls]!;
    const page = room.length > 0 ? room[room.length - 1]! : this.newPage(cls);
    return this.take(page, owner);
  }

  free(handle: number): void {
    this.blockCount -= 1;
    if (handle < 0) {
      const id = -handle - 1;
      const buf = this.own[id]!;
      this.used -= buf.length + OWN_BUFFER_OVERHEAD;
      this.held -= buf.length + OWN_BUFFER_OVERHEAD;
      this.own[id] = null;
      this.freeOwnIds.push(id);
      return;
    }
    const page = this.pages[Math.floor(handle / BLOCKS_SHIFT)]!;
    const block = handle % BLOCKS_SHIFT;
    page.owners[block] = NO_OWNER;
    page.buf.writeInt32LE(page.freeHead, block * page.size);
    page.freeHead = block;
    page.live -= 1;
    this.used -= page.size + 4;
    this.pageUsed -= page.size + 4;
    if (page.roomAt < 0) this.addRoom(page);
    // An empty page goes back, unless it is its class's only page with room (no churn at a page boundary).
    if (page.live === 0 && this.withRoom[page.cls]!.length > 1) this.release(page);
  }

  /** The buffer holding a block; its bytes start at `offsetOf(handle)`. */
  bufferOf(handle: number): Buffer {
    return handle < 0 ? this.own[-handle - 1]! : this.pages[Math.floor(handle / BLOCKS_SHIFT)]!.buf;
  }

  offsetOf(handle: number): number {
    if (handle < 0) return 0;
    return (handle % BLOCKS_SHIFT) * this.pages[Math.floor(handle / BLOCKS_SHIFT)]!.size;
  }

  /** Bytes the block can hold. */
  capacityOf(handle: number): number {
    return handle < 0 ? this.own[-handle - 1]!.length : this.pages[Math.floor(handle / BLOCKS_SHIFT)]!.size;
  }

  /** The owner given at alloc (or by the last move). */
  ownerOf(handle: number): number {
    if (handle < 0) return this.ownOwners[-handle - 1]!;
    return this.pages[Math.floor(handle / BLOCKS_SHIFT)]!.owners[handle % BLOCKS_SHIFT]!;
  }

  /** Bytes held in pages beyond what their blocks use (free blocks of pages not given back); `compact()` brings it down. */
  get slackBytes(): number {
    return this.pageHeld - this.pageUsed;
  }

  /**
   * Moves blocks out of the sparsest page of each class that holds more than
   * two pages' worth of free blocks, at most `maxMoves` blocks in all, and gives
   * those pages back. `moved(owner, handle)` is told each block's new handle.
   * Returns how many blocks moved.
   */
  compact(maxMoves: number, moved: (owner: number, handle: number) => void): number {
    let moves = 0;
    for (let cls = 0; cls < CLASS_SIZES.length && moves < maxMoves; cls++) {
      const room = this.withRoom[cls]!;
      if (room.length < 2) continue;
      let free = 0;
      let sparsest = room[0]!;
      for (const p of room) {
        free += p.blocks - p.live;
        if (p.live < sparsest.live) sparsest = p;
      }
      if (free < 2 * sparsest.blocks || sparsest.live > maxMoves - moves) continue;
      // Out of the list first, so no block moves into the page being emptied.
      this.dropRoom(sparsest);
      for (let b = 0; b < sparsest.bump; b++) {
        const owner = sparsest.owners[b]!;
        if (owner === NO_OWNER) continue;
        const target = room[room.length - 1]!;
        const to = this.take(target, owner);
        sparsest.buf.copy(target.buf, (to % BLOCKS_SHIFT) * target.size, b * sparsest.size, (b + 1) * sparsest.size);
        this.used -= sparsest.size + 4;
        this.pageUsed -= sparsest.size + 4;
        sparsest.owners[b] = NO_OWNER;
        sparsest.live -= 1;
        moves += 1;
        moved(owner, to);
      }
      this.release(sparsest);
    }
    return moves;
  }

  /** Gives every page back. */
  clear(): void {
    this.pages = [];
    this.freePageIds = [];
    for (const r of this.withRoom) r.length = 0;
    this.own = [];
    this.ownOwners = [];
    this.freeOwnIds = [];
    this.used = 0;
    this.held = 0;
    this.pageUsed = 0;
    this.pageHeld = 0;
    this.blockCount = 0;
  }

  private take(page: Page, owner: number): number {
    let block = page.freeHead;
    if (block >= 0) {
      page.freeHead = page.buf.readInt32LE(block * page.size);
    } else {
      block = page.bump++;
    }
    page.owners[block] = owner;
    page.live += 1;
    this.used += page.size + 4;
    this.pageUsed += page.size + 4;
    if (page.freeHead < 0 && page.bump === page.blocks) this.dropRoom(page);
    return page.id * BLOCKS_SHIFT + block;
  }

  private newPage(cls: number): Page {
    const size = CLASS_SIZES[cls]!;
    const bytes = Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, size * 32));
    const blocks = Math.min(BLOCKS_SHIFT, Math.floor(bytes / size));
    const id = this.freePageIds.pop() ?? this.pages.length;
    const page: Page = {
      id,
      cls,
      size,
      blocks,
      buf: Buffer.allocUnsafeSlow(blocks * size),
      owners: new Uint32Array(blocks).fill(NO_OWNER),
      bump: 0,
      freeHead: -1,
      live: 0,
      roomAt: -1,
    };
    this.pages[id] = page;
    this.held += page.buf.length + page.owners.byteLength;
    this.pageHeld += page.buf.length + page.owners.byteLength;
    this.addRoom(page);
    return page;
  }

  private release(page: Page): void {
    if (page.roomAt >= 0) this.dropRoom(page);
    this.pages[page.id] = null;
    this.freePageIds.push(page.id);
    this.held -= page.buf.length + page.owners.byteLength;
    this.pageHeld -= page.buf.length + page.owners.byteLength;
  }

  private addRoom(page: Page): void {
    const room = this.withRoom[page.cls]!;
    page.roomAt = room.length;
    room.push(page);
  }

  private dropRoom(page: Page): void {
    const room = this.withRoom[page.cls]!;
    const last = room.pop()!;
    if (last !== page) {
      room[page.roomAt] = last;
      last.roomAt = page.roomAt;
    }
    page.roomAt = -1;
  }
}
