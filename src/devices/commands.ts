import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { CachedImage, CommandResult, DeviceStatus, DeviceTarget, Driver, FileType } from './driver.js';
import { DeviceError } from './errors.js';

/**
 * The command table: every kind the DMS can send (PROTOCOL §3), with its argument schema,
 * whether it may be run again after a crash mid-send, whether it only reads, and how it runs
 * on a driver. The inbound frame schema, the crash and retry rules and the executor are
 * derived from this table; a new kind is one entry here plus the drivers that support it.
 */

export type { CommandResult, Outcome } from './driver.js';

/** What the executor lends a command while it runs on one phone. */
export interface CommandContext {
  readonly driver: Driver;
  readonly target: DeviceTarget;
  /** {mac}_{yyyy.mm.dd_hhmmss} of now: the stem of a file name this run produces. */
  fileStem(): string;
  /** Hands a file the phone produced to the DMS; resolves with what the result names. */
  deliver(body: Buffer | Readable, name: string, contentType: string): Promise<unknown>;
  /** Has the phone upload its packet capture to a one-time slot on the relay, packs and delivers it. */
  collectCapture(): Promise<unknown>;
  /** Reads the phone's status now (offline when unreachable) and records it for the monitor. */
  readStatus(): Promise<DeviceStatus>;
  /** An image of the desired set and whether the cache holds it verified; undefined when not in the set. */
  image(imageId: string): (CachedImage & { synced: boolean }) | undefined;
}

/** The image a command names, or the failure that says why the phone is not asked. */
function cachedImage(c: CommandContext, imageId: string): { ok: true; image: CachedImage } | { ok: false; result: CommandResult } {
  const image = c.image(imageId);
  if (!image) return { ok: false, result: { outcome: 'failure', reason: `image ${imageId} is not in the relay's desired image set` } };
  if (!image.synced) return { ok: false, result: { outcome: 'failure', reason: `image not synced: ${imageId} is not verified in the relay's cache yet` } };
  return { ok: true, image: { imageId: image.imageId, version: image.version, path: image.path } };
}

export interface CommandSpec<A extends z.ZodType> {
  readonly args: A;
  /**
   * Whether the command may be sent again when a crash left it unknown whether it reached
   * the phone. False means the device is reported "interrupted" instead (PROTOCOL §3).
   */
  readonly repeatable: boolean;
  /** Only reads: a retry after a timeout or a lost answer cannot change the phone twice. */
  readonly readOnly: boolean;
  readonly run: (c: CommandContext, args: z.output<A>) => Promise<CommandResult>;
}

const spec = <A extends z.ZodType>(s: CommandSpec<A>): CommandSpec<A> => s;

/** The driver lacks the method behind a kind it claims; the registry normally stops this first. */
const lacks = (c: CommandContext, what: string): DeviceError => new DeviceError('NOT_SUPPORTED', `this relay's driver for ${c.target.ip} cannot ${what}`, { reached: false });

const none = z.object({}).default({});
const paramName = z.string().min(1).max(256);
const imageId = z.string().min(1).max(128);
export const FILE_TYPES = ['logo', 'ringtone', 'screensaver', 'pic', 'ldap', 'moh'] as const satisfies readonly FileType[];

/** Frames are at most 1 MiB: a bigger config goes to the DMS as a file and the result names it. */
const MAX_INLINE_CONFIG = 512 * 1024;

const asParam = (v: string | number | boolean): string => (typeof v === 'boolean' ? (v ? '1' : '0') : String(v));

export const COMMANDS = {
  dial: spec({
    args: z.object({ to: z.string().min(1).max(256), dialType: z.enum(['sip', 'tel']).default('sip'), line: z.coerce.number().int().min(1).max(64).default(1) }),
    repeatable: false,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.dial) throw lacks(c, 'dial');
      return { outcome: 'success', data: await c.driver.dial(c.target, a.to, a.dialType, a.line) };
    },
  }),
  reboot: spec({
    args: none,
    repeatable: false,
    readOnly: false,
    run: async (c) => {
      if (!c.driver.reboot) throw lacks(c, 'reboot');
      const r = await c.driver.reboot(c.target);
      return r.deferred
        ? { outcome: 'success', reason: 'deferred: the phone is in a call and reboots when it ends', data: { deferred: true } }
        : { outcome: 'success', data: { deferred: false } };
    },
  }),
  reset: spec({
    args: z.object({ scope: z.enum(['web', 'local', 'device', 'all', 'factory']) }),
    repeatable: false,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.reset) throw lacks(c, 'reset');
      await c.driver.reset(c.target, a.scope);
      return { outcome: 'success', data: { scope: a.scope } };
    },
  }),
  getParams: spec({
    args: z.object({ names: z.array(paramName).min(1).max(20) }),
    repeatable: true,
    readOnly: true,
    run: async (c, a) => {
      if (!c.driver.getParams) throw lacks(c, 'read parameters');
      const r = await c.driver.getParams(c.target, a.names);
      const data = {
        values: Object.fromEntries(Object.entries(r.values).map(([k, v]) => [k, v.value])),
        sources: Object.fromEntries(Object.entries(r.values).map(([k, v]) => [k, v.source])),
        invalid: r.invalid,
      };
      if (r.invalid.length > 0 && Object.keys(r.values).length === 0)
        return { outcome: 'failure', reason: `the phone knows none of the parameters: ${r.invalid.join(', ')}`, data };
      return r.invalid.length > 0 ? { outcome: 'success', reason: `unknown parameters: ${r.invalid.join(', ')}`, data } : { outcome: 'success', data };
    },
  }),
  setParams: spec({
    args: z.object({ values: z.record(paramName, z.union([z.string(), z.number(), z.boolean()])) }),
    repeatable: true,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.setParams) throw lacks(c, 'write parameters');
      const values = Object.fromEntries(Object.entries(a.values).map(([k, v]) => [k, asParam(v)]));
      const r = await c.driver.setParams(c.target, values);
      const data = { set: Object.keys(values).length, chunks: r.chunks };
      return r.waitedForIdle
        ? { outcome: 'success', reason: 'the phone was in a call: written once it was idle again', data: { ...data, waitedForIdle: true } }
        : { outcome: 'success', data };
    },
  }),
  getConfig: spec({
    args: z.object({ source: z.enum(['config', 'local', 'web', 'device', 'all']).default('all') }),
    repeatable: true,
    readOnly: true,
    run: async (c, a) => {
      if (!c.driver.getConfig) throw lacks(c, 'read its configuration');
      const config = await c.driver.getConfig(c.target, a.source);
      const text = JSON.stringify(config);
      if (text.length <= MAX_INLINE_CONFIG) return { outcome: 'success', data: { source: a.source, config } };
      const file = await c.deliver(Buffer.from(text), `${c.fileStem()}.config-${a.source}.json`, 'application/json');
      return { outcome: 'success', data: { source: a.source, file } };
    },
  }),
  screenCapture: spec({
    args: none,
    repeatable: true,
    readOnly: true,
    run: async (c) => {
      if (!c.driver.screenCapture) throw lacks(c, 'capture its screen');
      const img = await c.driver.screenCapture(c.target);
      return { outcome: 'success', data: { file: await c.deliver(img.body, `${c.fileStem()}.screen.${img.ext}`, img.contentType) } };
    },
  }),
  pcapStart: spec({
    args: z.object({ filter: z.string().max(1024).optional(), maxMb: z.number().int().min(1).max(10).default(10), maxMinutes: z.number().int().min(1).max(2880).default(60) }),
    repeatable: false,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.pcapStart) throw lacks(c, 'capture packets');
      await c.driver.pcapStart(c.target, { filter: a.filter, maxMb: a.maxMb, maxMinutes: a.maxMinutes });
      return { outcome: 'success', data: { maxMb: a.maxMb, maxMinutes: a.maxMinutes, ...(a.filter ? { filter: a.filter } : {}) } };
    },
  }),
  pcapStop: spec({
    args: none,
    repeatable: true,
    readOnly: false,
    run: async (c) => ({ outcome: 'success', data: { file: await c.collectCapture() } }),
  }),
  pcapCancel: spec({
    args: none,
    repeatable: true,
    readOnly: false,
    run: async (c) => {
      if (!c.driver.pcapCancel) throw lacks(c, 'cancel a packet capture');
      await c.driver.pcapCancel(c.target);
      return { outcome: 'success', data: { kept: false } };
    },
  }),
  adPassword: spec({
    args: z.object({ password: z.string().min(1).max(1024) }),
    repeatable: true,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.adPassword) throw lacks(c, 'set the AD password');
      await c.driver.adPassword(c.target, a.password);
      return { outcome: 'success' };
    },
  }),
  checkSync: spec({
    args: none,
    repeatable: true,
    readOnly: false,
    run: async (c) => {
      if (!c.driver.checkSync) throw lacks(c, 'apply provisioning changes');
      await c.driver.checkSync(c.target);
      return { outcome: 'success' };
    },
  }),
  status: spec({
    args: none,
    repeatable: true,
    readOnly: true,
    run: async (c) => {
      const snap = await c.readStatus();
      return snap.online ? { outcome: 'success', data: { ...snap } } : { outcome: 'failure', reason: 'the phone is offline (no connection)', data: { ...snap } };
    },
  }),
  // Run again after a crash: the driver checks the phone's version first, so a phone that
  // already took the image ends "already current" instead of being upgraded twice.
  updateFirmware: spec({
    args: z.object({ imageId }),
    repeatable: true,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.updateFirmware) throw lacks(c, 'update its firmware');
      const img = cachedImage(c, a.imageId);
      if (!img.ok) return img.result;
      const r = await c.driver.updateFirmware(c.target, img.image, 'trigger');
      const data = {
        imageId: a.imageId,
        version: img.image.version,
        ...(r.fromVersion !== undefined ? { fromVersion: r.fromVersion } : {}),
        ...(r.toVersion !== undefined ? { toVersion: r.toVersion } : {}),
        alreadyCurrent: r.alreadyCurrent === true,
        ...(r.fetchedFromCache !== undefined ? { fetchedFromCache: r.fetchedFromCache } : {}),
      };
      const reason = r.reason ?? (r.alreadyCurrent ? 'already current' : undefined);
      return { outcome: r.outcome, ...(reason ? { reason } : {}), data };
    },
  }),
  deployFile: spec({
    args: z.object({ imageId, fileType: z.enum(FILE_TYPES) }),
    repeatable: true,
    readOnly: false,
    run: async (c, a) => {
      if (!c.driver.deployFile) throw lacks(c, 'deploy a file');
      const img = cachedImage(c, a.imageId);
      if (!img.ok) return img.result;
      return c.driver.deployFile(c.target, img.image, a.fileType);
    },
  }),
};

type Table = typeof COMMANDS;
export type CommandKind = keyof Table;
export type CommandArgs<K extends CommandKind> = z.output<Table[K]['args']>;
export type Command = { [K in CommandKind]: { kind: K; args: CommandArgs<K> } }[CommandKind];

export const COMMAND_KINDS = Object.keys(COMMANDS) as CommandKind[];

/** `command` of a task.submit, derived from the table. */
export const commandSchema = z.discriminatedUnion(
  'kind',
  COMMAND_KINDS.map((kind) => z.object({ kind: z.literal(kind), args: COMMANDS[kind].args })) as unknown as [z.ZodObject<{ kind: z.ZodLiteral<CommandKind>; args: z.ZodType }>],
) as unknown as z.ZodType<Command>;

/** Kinds that must not be sent twice: after a crash mid-send they end "interrupted". */
export const NOT_REPEATABLE: ReadonlySet<CommandKind> = new Set(COMMAND_KINDS.filter((k) => !COMMANDS[k].repeatable));
/** Kinds that only read: resent after a timeout or a lost answer. */
export const READ_ONLY: ReadonlySet<CommandKind> = new Set(COMMAND_KINDS.filter((k) => COMMANDS[k].readOnly));

/** Runs one command through its table entry. */
export function runCommand(c: CommandContext, cmd: Command): Promise<CommandResult> {
  const entry = COMMANDS[cmd.kind] as CommandSpec<z.ZodType>;
  return entry.run(c, cmd.args);
}
