import { z } from 'zod';
import { configSchema } from './schema.js';

/** One leaf setting, as the README and `cloud-relay config` list it. */
export interface SettingInfo {
  readonly path: string;
  readonly env: string;
  readonly description: string;
  readonly defaultValue: unknown;
}

type AnySchema = z.ZodType;

function unwrap(schema: AnySchema): { inner: AnySchema; defaultValue: unknown } {
  let s: AnySchema = schema;
  let defaultValue: unknown;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: AnySchema; in?: AnySchema; defaultValue?: unknown };
    if ((def.type === 'default' || def.type === 'prefault') && def.innerType) {
      defaultValue ??= def.defaultValue;
      s = def.innerType;
    } else if ((def.type === 'optional' || def.type === 'nullable') && def.innerType) {
      s = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      s = def.in;
    } else {
      return { inner: s, defaultValue };
    }
  }
}

export function envName(path: string): string {
  return (
    'CLOUD_RELAY_' +
    path
      .replace(/\./g, '_')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .toUpperCase()
  );
}

function walk(schema: z.ZodObject, prefix: string, out: SettingInfo[]): void {
  for (const [key, field] of Object.entries(schema.shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const { inner, defaultValue } = unwrap(field as AnySchema);
    if (inner instanceof z.ZodObject) {
      walk(inner, path, out);
    } else {
      out.push({ path, env: envName(path), description: (field as AnySchema).description ?? '', defaultValue });
    }
  }
}

let cached: readonly SettingInfo[] | undefined;

export function allSettings(): readonly SettingInfo[] {
  if (!cached) {
    const out: SettingInfo[] = [];
    walk(configSchema, '', out);
    cached = out;
  }
  return cached;
}
