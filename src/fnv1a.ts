/**
 * 32-bit FNV-1a over a string's UTF-16 code units, unsigned. Spreads keys over
 * buckets (the store digest's leaves, SCAN's key index): fast, allocation-free,
 * not for anything an attacker must not steer. The digest's leaves are part of
 * the node-to-node protocol, so this must not change.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
