/**
 * A part known only part-way through the start (docs/architecture.md,
 * "Composition"): this node's HTTP address once its port is bound, the gossip
 * cluster once it has started. Parts built earlier hold the `Late` and read it
 * when called; reading it before it is set is a bug in the start order, so it
 * throws rather than answering a made-up value.
 */
export class Late<T> {
  private value: { readonly v: T } | null = null;

  /** @param what names the value in the error of a read that comes too early. */
  constructor(private readonly what: string) {}

  set(v: T): void {
    if (this.value !== null) throw new Error(`${this.what} is set twice`);
    this.value = { v };
  }

  get isSet(): boolean {
    return this.value !== null;
  }

  get(): T {
    if (this.value === null) throw new Error(`${this.what} is not known yet`);
    return this.value.v;
  }
}
