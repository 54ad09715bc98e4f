import { MessageChannel } from 'node:worker_threads';

/**
 * Frees a replaced buffer's memory now rather than at V8's next full
 * collection. A store's columns are replaced by larger ones as it grows; the
 * old ones are dead at once, but an idle node may run no full collection for
 * minutes, and until then the last generation (some 60 MB at a million
 * entries) stays resident. A buffer transferred by postMessage is detached
 * from its object, and on a channel already closed the message is dropped at
 * once, with the memory. The channel closes a moment after this module loads;
 * until it has, buffers are left to the collector. Only for buffers nothing
 * else views: every view of one is empty afterwards.
 */
const channel = new MessageChannel();
let closed = false;
channel.port1.once('close', () => {
  closed = true;
});
channel.port1.unref();
channel.port2.close();

/** Below this a buffer is not worth a message: it goes with the objects around it. */
export const RELEASE_MIN_BYTES = 1 << 20;

/** Frees `buffer` now if it can (see above); true if it did. */
export function releaseBuffer(buffer: ArrayBufferLike): boolean {
  if (!closed || !(buffer instanceof ArrayBuffer) || buffer.byteLength < RELEASE_MIN_BYTES) return false;
  try {
    channel.port1.postMessage(null, [buffer]);
  } catch {
    // Not transferable (a buffer Node keeps for itself): V8 frees it with its last view, as without this.
    return false;
  }
  return buffer.byteLength === 0;
}
