import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, type ConfigProblem, errorMessage } from '../errors.js';
import { configSchema, SECRET_FILE_KEYS, SECRET_KEYS, SECRET_URL_KEYS, type RelayConfig } from './schema.js';
import { PROXY_ENV_NAMES, redactProxyUrl, type ProxyEnvironment } from '../dms/outbound-proxy.js';
import { allSettings } from './settings.js';
import { formatListen, type ListenAddress } from './listen.js';

export interface LoadOptions {
  /** Path of the JSON config file; `CLOUD_RELAY_CONFIG` when absent. */
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Command-line overrides by setting path (highest precedence). */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Who set the overrides, as `cloud-relay config` reports it (default: the command line). */
  readonly overridesFrom?: 'command line' | 'code';
}

/**
 * Where a setting's value came from, as `cloud-relay config` shows it: `default`,
 * `file <path>`, `environment <VAR>`, `command line`, `code` (a program such as the demo set
 * it), each possibly followed by ` via <secret file setting>` for a secret read from a file.
 */
export type SettingSource = string;

/** Sources per setting path, for each config object loadConfig returned. */
const SOURCES = new WeakMap<RelayConfig, Readonly<Record<string, SettingSource>>>();

/**
 * Where each setting of `cfg` came from; settings not listed are unset or at their default.
 * Undefined for a config object loadConfig did not build (e.g. a copy made in a test).
 */
export function settingSources(cfg: RelayConfig): Readonly<Record<string, SettingSource>> | undefined {
  return SOURCES.get(cfg);
}

function leafPaths(node: unknown, prefix: string, out: string[]): string[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    if (prefix) out.push(prefix);
    return out;
  }
  for (const [k, v] of Object.entries(node)) leafPaths(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) node = next as Tree;
    else node = node[part] = {};
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(tree: Tree, path: string): unknown {
  let node: unknown = tree;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Tree)[part];
  }
  return node;
}

function readJsonFile(file: string, problems: ConfigProblem[]): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ path: '(config file)', message: `cannot read ${file}: ${errorMessage(err)}` });
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push({ path: '(config file)', message: `${file} must hold a JSON object` });
      return {};
    }
    return parsed as Tree;
  } catch (err) {
    problems.push({ path: '(config file)', message: `${file} is not valid JSON: ${errorMessage(err)}` });
    return {};
  }
}

/** Setting paths and the groups above them (`proxy` for `proxy.maxUploadBytes`). */
let knownPaths: { leaves: ReadonlySet<string>; groups: ReadonlySet<string> } | undefined;

/**
 * Flags keys that are no setting, inside groups too: zod drops unknown keys silently, so a
 * misspelt `proxy.maxUploadByts` would otherwise leave the default in force without a word.
 */
function reportUnknownKeys(node: Tree, prefix: string, problems: ConfigProblem[]): void {
  if (!knownPaths) {
    const leaves = new Set(allSettings().map((s) => s.path));
    const groups = new Set(
      [...leaves].flatMap((p) =>
        p
          .split('.')
          .slice(0, -1)
          .map((_, i, parts) => parts.slice(0, i + 1).join('.')),
      ),
    );
    knownPaths = { leaves, groups };
  }
  for (const [key, value] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (knownPaths.leaves.has(path)) continue;
    if (!knownPaths.groups.has(path)) {
      problems.push({ path, message: 'unknown setting (check the spelling against `cloud-relay config --list`)' });
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      reportUnknownKeys(value as Tree, path, problems);
    }
  }
}

/**
 * Builds the effective configuration: defaults < file < environment < command line.
 * Every problem is collected and reported at once, so an admin fixes a file in one pass.
 */
export function loadConfig(opts: LoadOptions = {}): RelayConfig {
  const env = opts.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const file = opts.file ?? env.CLOUD_RELAY_CONFIG;
  const tree: Tree = file ? readJsonFile(file, problems) : {};
  const sources: Record<string, SettingSource> = {};
  for (const path of leafPaths(tree, '', [])) sources[path] = `file ${file ?? ''}`;

  reportUnknownKeys(tree, '', problems);
  for (const s of allSettings()) {
    const v = env[s.env];
    if (v !== undefined && v !== '') {
      setPath(tree, s.path, v);
      sources[s.path] = `environment ${s.env}`;
    }
  }
  for (const [path, v] of Object.entries(opts.overrides ?? {})) {
    if (v !== undefined) {
      setPath(tree, path, v);
      sources[path] = opts.overridesFrom ?? 'command line';
    }
  }

  for (const [fileKey, secretKey] of Object.entries(SECRET_FILE_KEYS)) {
    const secretFile = getPath(tree, fileKey);
    if (typeof secretFile === 'string' && secretFile !== '' && getPath(tree, secretKey) === undefined) {
      try {
        setPath(tree, secretKey, readFileSync(secretFile, 'utf8').trim());
        sources[secretKey] = `${sources[fileKey] ?? 'file'} via ${fileKey}`;
      } catch (err) {
        problems.push({ path: fileKey, message: `cannot read ${secretFile}: ${errorMessage(err)}` });
      }
    }
  }

  const result = configSchema.safeParse(tree);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.join('.') || '(root)';
      const setting = allSettings().find((s) => s.path === path);
      const missing = issue.code === 'invalid_type' && getPath(tree, path) === undefined;
      problems.push({
        path,
        message: missing
          ? `required (set it in the file or ${setting?.env ?? 'the environment'})`
          : issue.message.includes('received NaN')
            ? `${JSON.stringify(getPath(tree, path))} is not a number`
            : issue.message,
      });
    }
  }
  // tenantId and pin may instead be stored in the data dir by `cloud-relay register`; the
  // management agent refuses to start (EX_CONFIG) when neither place has them.
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);

  const { pinFile: _pinFile, pfxPassphraseFile: _pfxPassphraseFile, cacheDir, ...rest } = result.data;
  const dataDir = resolve(rest.dataDir);
  const proxyEnvironment: ProxyEnvironment = {};
  for (const name of PROXY_ENV_NAMES) if (env[name] !== undefined && env[name] !== '') proxyEnvironment[name] = env[name];
  const cfg: RelayConfig = {
    ...rest,
    dataDir,
    cacheDir: cacheDir ? (isAbsolute(cacheDir) ? cacheDir : resolve(cacheDir)) : join(dataDir, 'cache'),
    proxyEnvironment,
  };
  for (const fileKey of Object.keys(SECRET_FILE_KEYS)) delete sources[fileKey];
  SOURCES.set(cfg, sources);
  return cfg;
}

/** One setting of the effective configuration, as `cloud-relay config` and the admin port show it. */
export interface EffectiveSetting {
  readonly path: string;
  /** Secrets are `[redacted]`; listen addresses as written; undefined when unset. */
  readonly value?: unknown;
  readonly source: SettingSource;
}

/**
 * Every setting with its (redacted) value and where it came from. `cacheDir` without a
 * setting of its own is derived from dataDir; an unknown origin (a config not built by
 * loadConfig) is `code`.
 */
export function effectiveSettings(cfg: RelayConfig): EffectiveSetting[] {
  const known = settingSources(cfg);
  const redacted = redactedConfig(cfg) as Tree;
  const out: EffectiveSetting[] = [];
  for (const s of allSettings()) {
    if (s.path in SECRET_FILE_KEYS) continue;
    const value = getPath(redacted, s.path);
    let source = known?.[s.path];
    if (source === undefined) {
      if (s.path === 'cacheDir' && value === join(cfg.dataDir, 'cache')) source = 'default (<dataDir>/cache)';
      else if (value === undefined) source = 'not set';
      else if (known || JSON.stringify(value) === JSON.stringify(s.defaultValue)) source = 'default';
      else source = 'code';
    }
    out.push({ path: s.path, value, source });
  }
  return out;
}

/** The effective configuration as an admin may see it: secrets replaced, addresses as written. */
export function redactedConfig(cfg: RelayConfig): Record<string, unknown> {
  const out: Tree = {};
  for (const s of allSettings()) {
    if (s.path in SECRET_FILE_KEYS) continue;
    let v = s.path === 'cacheDir' ? cfg.cacheDir : getPath(cfg as unknown as Tree, s.path);
    if (SECRET_KEYS.has(s.path) && v !== undefined) v = '[redacted]';
    if (SECRET_URL_KEYS.has(s.path) && typeof v === 'string') v = redactProxyUrl(v);
    if (typeof v === 'object' && v !== null && 'port' in v && 'host' in v) v = formatListen(v as ListenAddress);
    if (v !== undefined) setPath(out, s.path, v);
  }
  return out;
}
