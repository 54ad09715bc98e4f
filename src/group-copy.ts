/**
 * One node's copy of a key, as /group_data/ collects them: made by the cluster
 * layer (src/cluster/groups/group-data.ts), answered by the HTTP route
 * (src/api/http/group-data-route.ts). Kept outside both so neither layer
 * imports the other.
 */
export interface GroupCopy {
  /** The node, as listed (or this node's ResponseHost:port). */
  address: string;
  value: Buffer;
  /** Create time in ns since the epoch; null when the node did not say (then it counts as oldest). */
  createdNs: bigint | null;
  /** RFC 3339 with nanoseconds (the info answer's KeyCreateTime). */
  keyCreateTime: string;
  /** Go's time.String() form (the Keycreatetime header). */
  keyCreateTimeGo: string;
}
