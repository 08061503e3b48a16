/** A request target that passed hygiene: safe to route and to forward. */
export interface RequestTarget {
  /** The path as the phone sent it (still percent-encoded): forwarded unchanged. */
  readonly rawPath: string;
  /** Decoded path, for routing and logs. */
  readonly path: string;
  /** Query including '?', or ''. */
  readonly search: string;
}

const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;
const ENCODED_SEPARATOR = /%(?:2f|5c|00)/i;
const DOUBLE_ENCODED = /%(?:2e|2f|5c)/i;

/**
 * Parses an origin-form request target and refuses anything that could escape the
 * provisioning root upstream: dot segments (plain or percent-encoded, also double-encoded),
 * encoded separators or NUL, backslashes, and absolute-form or asterisk-form targets.
 * Returns the reason as a string when refused.
 */
export function parseRequestTarget(url: string): RequestTarget | string {
  if (url.charCodeAt(0) !== 47 /* '/' */) return 'only origin-form request targets ("/path") are accepted';
  if (url.charCodeAt(1) === 47) return 'the path must not start with "//"';
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const search = q < 0 ? '' : url.slice(q);
  if (rawPath.includes('\\')) return 'backslashes are not allowed in the path';
  let path = rawPath;
  if (rawPath.includes('%')) {
    if (ENCODED_SEPARATOR.test(rawPath)) return 'encoded "/", "\\" or NUL in the path';
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      return 'malformed percent-encoding in the path';
    }
    if (DOUBLE_ENCODED.test(path)) return 'double-encoded characters in the path';
    if (path.includes('\\') || path.includes('\0')) return 'backslash or NUL in the decoded path';
  }
  if (path.includes('.') && DOT_SEGMENT.test(path)) return 'path traversal ("." or ".." segment)';
  return { rawPath, path, search };
}
