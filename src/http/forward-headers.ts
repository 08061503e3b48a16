/** Hop-by-hop (RFC 9110 §7.6.1) plus what the relay sets itself or must not forward. */
const DROP_REQUEST = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'http2-settings', 'host', 'expect', 'x-forwarded-for', 'x-relay-id',
]);

function connectionTokens(value: string): Set<string> {
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''));
}

/**
 * Upstream request headers from the phone's raw headers (flat [name, value, …], as undici
 * takes them): hop-by-hop and Connection-named ones dropped, Authorization kept unchanged,
 * the phone's IP appended to X-Forwarded-For and X-Relay-Id set.
 */
export function upstreamRequestHeaders(raw: readonly string[], clientIp: string, relayId: string): string[] {
  let named: Set<string> | undefined;
  let xff: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'connection') {
      for (const t of connectionTokens(raw[i + 1]!)) (named ??= new Set()).add(t);
    } else if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (DROP_REQUEST.has(lower) || named?.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('x-forwarded-for', xff === undefined ? clientIp : `${xff}, ${clientIp}`, 'x-relay-id', relayId);
  return out;
}

/** The socket's peer as dotted IPv4 for IPv4-mapped addresses (no "::ffff:"). */
export function clientIpOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.') ? remoteAddress.slice(7) : remoteAddress;
}
