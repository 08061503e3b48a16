import { request } from '../core/undici.js';
import { loadConfig } from '../config/load.js';
import type { RelayConfig } from '../config/schema.js';
import { ConfigError, ExitCode, errorMessage } from '../errors.js';
import { formatListen, parseListen } from '../config/listen.js';
import { timeouts } from '../core/timeouts.js';
import { configDocumentSchema, type ConfigDocument } from '../admin/config-document.js';

/** Loads the config or prints every problem and returns EX_CONFIG. */
export function configOrExit(file: string | undefined, overrides?: Record<string, unknown>): RelayConfig | number {
  try {
    return loadConfig({ file, overrides: overrides ?? {} });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`cloud-relay: ${err.message}`);
      return ExitCode.CONFIG;
    }
    throw err;
  }
}

/** Base URL of the local admin port, for commands that ask the running daemon. */
export function adminBase(cfg: Pick<RelayConfig, 'adminListen'>): string {
  const a = cfg.adminListen;
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return `http://${formatListen({ host, port: a.port })}`;
}

export async function adminGet(base: string, path: string): Promise<{ status: number; body: unknown }> {
  const res = await request(`${base}${path}`, { headersTimeout: timeouts.cliAdminCall.ms, bodyTimeout: timeouts.cliAdminCall.ms });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.statusCode, body };
}

/**
 * One read-only document from the running relay's admin port, checked by `accept`; on no answer or
 * a wrong document it prints why and returns the exit status instead.
 */
export async function adminDocument<T>(base: string, path: string, what: string, accept: (body: unknown) => T | undefined): Promise<T | number> {
  let res: { status: number; body: unknown };
  try {
    res = await adminGet(base, path);
  } catch (err) {
    console.error(`cloud-relay: no relay answers at ${base}: ${errorMessage(err)}`);
    return ExitCode.UNAVAILABLE;
  }
  const doc = res.status === 200 ? accept(res.body) : undefined;
  if (doc === undefined) {
    console.error(`cloud-relay: the relay at ${base} has no ${what} (HTTP ${res.status}${res.status === 200 ? ', not the expected document' : ''})`);
    return ExitCode.UNAVAILABLE;
  }
  return doc;
}

/**
 * Where the running relay's admin port is: `--admin`, else the config's adminListen
 * (`--config` or $CLOUD_RELAY_CONFIG), else the default. Returns an exit code on bad input.
 */
export function adminBaseFromArgs(values: { admin?: string | undefined; config?: string | undefined }): string | number {
  if (values.admin) {
    const a = parseListen(values.admin);
    if (typeof a === 'string') {
      console.error(`cloud-relay: --admin: ${a}`);
      return ExitCode.USAGE;
    }
    return adminBase({ adminListen: a });
  }
  if (values.config || process.env.CLOUD_RELAY_CONFIG) {
    const cfg = configOrExit(values.config);
    return typeof cfg === 'number' ? cfg : adminBase(cfg);
  }
  let listen = { host: '127.0.0.1', port: 9090 };
  try {
    listen = loadConfig().adminListen;
  } catch {
    // No complete config in this shell: CLOUD_RELAY_ADMIN_LISTEN alone still says where to ask.
    const fromEnv = process.env.CLOUD_RELAY_ADMIN_LISTEN ? parseListen(process.env.CLOUD_RELAY_ADMIN_LISTEN) : undefined;
    if (fromEnv && typeof fromEnv !== 'string') listen = { ...fromEnv };
  }
  return adminBase({ adminListen: listen });
}

/** What a relay's `GET /config` answered: its document, or why there is none. */
export type RelayConfigAnswer = { ok: true; doc: ConfigDocument } | { ok: false; why: string };

/** Asks the relay at `base` for its effective configuration, data directory and log destination. */
export async function fetchRelayConfig(base: string): Promise<RelayConfigAnswer> {
  let r: { status: number; body: unknown };
  try {
    r = await adminGet(base, '/config');
  } catch (err) {
    return { ok: false, why: `no relay answers at ${base}: ${errorMessage(err)}` };
  }
  if (r.status !== 200) return { ok: false, why: `the relay at ${base} answered /config with HTTP ${r.status} (an older relay?)` };
  const doc = configDocumentSchema.safeParse(r.body);
  return doc.success ? { ok: true, doc: doc.data } : { ok: false, why: `the relay at ${base} answered /config with something that is not a configuration document` };
}

/**
 * Redraws a block of lines in place on a terminal; elsewhere (a pipe, a log) prints a block only
 * when it changed, so `--follow` output stays readable in both.
 */
export function liveBlock(out: NodeJS.WriteStream = process.stdout): (lines: readonly string[]) => void {
  const tty = out.isTTY === true;
  let drawn = 0;
  let previous = '';
  return (lines) => {
    const text = lines.join('\n');
    if (tty) {
      if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[J`);
      out.write(`${text}\n`);
      drawn = lines.length;
    } else if (text !== previous) {
      out.write(`${text}\n`);
    }
    previous = text;
  };
}
