/** A listen address as admins write it: `0.0.0.0:443`, `127.0.0.1:9090`, `[::1]:8443`, `:443`. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export function parseListen(text: string): ListenAddress | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return `"${text}" is not host:port (IPv6 in brackets, e.g. [::1]:443)`;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return `port ${port} is out of range 0-65535`;
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!);
  return { host, port };
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
