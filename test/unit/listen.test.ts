import { describe, expect, it } from 'vitest';
import { formatListen, parseListen } from '../../src/config/listen.js';

describe('listen addresses', () => {
  it.each([
    ['0.0.0.0:443', { host: '0.0.0.0', port: 443 }],
    ['127.0.0.1:9090', { host: '127.0.0.1', port: 9090 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    [':443', { host: '0.0.0.0', port: 443 }],
    ['relay.example.com:443', { host: 'relay.example.com', port: 443 }],
  ])('parses %s', (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(['443', '::1:443', 'host:99999', 'host:', '[::1]'])('explains why %s is not an address', (text) => {
    expect(typeof parseListen(text)).toBe('string');
  });

  it('brackets IPv6 when formatting', () => {
    expect(formatListen({ host: '::1', port: 1 })).toBe('[::1]:1');
    expect(formatListen({ host: '127.0.0.1', port: 2 })).toBe('127.0.0.1:2');
  });
});
