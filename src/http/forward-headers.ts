/** Hop-by-hop (RFC 9110 §7.6.1) plus what the relay sets itself or must not forward. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
  'expect',
  'x-forwarded-for',
  'x-relay-id',
]);

/** Header names a Connection header value lists (RFC 9110 §7.6.1), lower-cased. */
export function connectionTokens(value: string): Set<string> {
  return new Set(
    value
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
}

/**
 * Upstream request headers from the phone's raw headers (flat [name, value, …], as undici
 * takes them): hop-by-hop and Connection-named ones dropped, Authorization kept unchanged,
 * the phone's IP appended to X-Forwarded-For and X-Relay-Id set.
 */
export function upstreamRequestHeaders(raw: readonly string[], clientIp: string, relayId: string): string[] {
  // One pass, one toLowerCase per header (every proxied request runs this); headers named
  // in Connection are rare and removed afterwards.
  let named: Set<string> | undefined;
  let xff: string | undefined;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      for (const t of connectionTokens(raw[i + 1]!)) (named ??= new Set()).add(t);
    } else if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
    } else if (!DROP_REQUEST.has(lower)) {
      out.push(name, raw[i + 1]!);
    }
  }
  const kept = named ? withoutNamed(out, named) : out;
  kept.push('x-forwarded-for', xff === undefined ? clientIp : `${xff}, ${clientIp}`, 'x-relay-id', relayId);
  return kept;
}

/** A flat [name, value, …] list without the headers `named` lists (lower-case names). */
export function withoutNamed(flat: readonly string[], named: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (!named.has(flat[i]!.toLowerCase())) out.push(flat[i]!, flat[i + 1]!);
  return out;
}

/** The socket's peer as dotted IPv4 for IPv4-mapped addresses (no "::ffff:"). */
export function clientIpOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.') ? remoteAddress.slice(7) : remoteAddress;
}
