/**
 * A socket bound to `::` receives IPv4 clients as IPv4-mapped IPv6 addresses
 * (`::ffff:127.0.0.1`). Every place that keys something on a peer's address
 * (password guard, tokens, member identities) uses the plain IPv4 form, so one
 * client is one address whichever port or socket family it came through.
 */
export function unmapIPv4(address: string): string {
  const m = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(address);
  return m === null ? address : m[1]!;
}
