import { describe, expect, it } from 'vitest';
import { identityMatches } from '../../src/tls/hostname.js';

describe('certificate identity matching (RFC 6125)', () => {
  it.each([
    ['relay.example.com', 'relay.example.com', true],
    ['RELAY.Example.com', 'relay.example.COM.', true],
    ['relay.example.com', 'relay2.example.com', false],
    ['*.example.com', 'relay.example.com', true],
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', 'example.com', false],
    ['*.com', 'example.com', false],
    ['r*.example.com', 'relay.example.com', false],
    ['relay.*.com', 'relay.example.com', false],
    ['*.*.example.com', 'a.b.example.com', false],
    ['*.0.0.1', '127.0.0.1', false],
  ])('%s vs %s → %s', (pattern, host, expected) => {
    expect(identityMatches(pattern, host)).toBe(expected);
  });
});
