import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Driver, DeviceTarget } from '../../devices/driver.js';
import { DeviceError } from '../../devices/errors.js';
import type { Command, Outcome } from '../frames.js';
import type { CaptureInbox } from './capture-inbox.js';
import type { DmsFiles } from './dms-files.js';
import { readSnapshot, type DeviceSnapshot } from '../monitor/snapshot.js';
import { timeouts } from '../../core/timeouts.js';

export interface CommandResult {
  outcome: Outcome;
  reason?: string;
  data?: Record<string, unknown>;
}

export interface ExecutorDeps {
  readonly files: DmsFiles;
  readonly inbox: CaptureInbox;
  /** Scratch space for captures before they go to the DMS. */
  readonly workDir: string;
  /** https://{fqdn}[:port] as phones reach the relay, or undefined while the HTTPS port is not up. */
  readonly relayBaseUrl: () => string | undefined;
  readonly now: () => number;
  /** Called with each status read by a `status` command (the monitor's book). */
  readonly onStatus: (deviceId: string, snap: DeviceSnapshot) => void;
  /** How long to wait for a phone's capture upload. */
  readonly captureWaitMs?: number;
}

/** {mac}_{yyyy.mm.dd_hhmmss} in UTC, the DMS's file naming (PROTOCOL §4). */
export function fileStem(mac: string, at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mac.toLowerCase().replace(/[^0-9a-f]/g, '')}_${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}_${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Frames are at most 1 MiB: a bigger config goes to the DMS as a file and the result names it. */
const MAX_INLINE_CONFIG = 512 * 1024;

const asParam = (v: string | number | boolean): string => (typeof v === 'boolean' ? (v ? '1' : '0') : String(v));

/**
 * Runs one command against one phone and says what the phone confirmed. DeviceErrors escape
 * to the runner, which decides about retries and maps the last one to an outcome.
 */
export class CommandExecutor {
  constructor(private readonly deps: ExecutorDeps) {}

  async run(driver: Driver, t: DeviceTarget, cmd: Command, deviceId: string): Promise<CommandResult> {
    switch (cmd.kind) {
      case 'reboot': {
        const r = await driver.reboot(t);
        return r.deferred ? { outcome: 'success', reason: 'deferred: the phone is in a call and reboots when it ends', data: { deferred: true } } : { outcome: 'success', data: { deferred: false } };
      }
      case 'dial':
        return { outcome: 'success', data: await driver.dial(t, cmd.args.to, cmd.args.dialType, cmd.args.line) };
      case 'reset':
        await driver.reset(t, cmd.args.scope);
        return { outcome: 'success', data: { scope: cmd.args.scope } };
      case 'getParams': {
        const r = await driver.getParams(t, cmd.args.names);
        const data = { values: Object.fromEntries(Object.entries(r.values).map(([k, v]) => [k, v.value])), sources: Object.fromEntries(Object.entries(r.values).map(([k, v]) => [k, v.source])), invalid: r.invalid };
        if (r.invalid.length > 0 && Object.keys(r.values).length === 0) return { outcome: 'failure', reason: `the phone knows none of the parameters: ${r.invalid.join(', ')}`, data };
        return r.invalid.length > 0 ? { outcome: 'success', reason: `unknown parameters: ${r.invalid.join(', ')}`, data } : { outcome: 'success', data };
      }
      case 'setParams': {
        const values = Object.fromEntries(Object.entries(cmd.args.values).map(([k, v]) => [k, asParam(v)]));
        const r = await driver.setParams(t, values);
        return { outcome: 'success', data: { set: Object.keys(values).length, chunks: r.chunks } };
      }
      case 'getConfig': {
        const config = await driver.getConfig(t, cmd.args.source);
        const text = JSON.stringify(config);
        if (text.length <= MAX_INLINE_CONFIG) return { outcome: 'success', data: { source: cmd.args.source, config } };
        const file = await this.uploadBuffer(Buffer.from(text), `${fileStem(t.mac, this.deps.now())}.config-${cmd.args.source}.json`, 'application/json');
        return { outcome: 'success', data: { source: cmd.args.source, file } };
      }
      case 'screenCapture': {
        const img = await driver.screenCapture(t);
        const name = `${fileStem(t.mac, this.deps.now())}.screen.${img.ext}`;
        const tmp = await this.tmpPath();
        try {
          await pipeline(img.body, createWriteStream(tmp, { mode: 0o600 }));
          return { outcome: 'success', data: { file: await this.deps.files.upload(tmp, name, img.contentType) } };
        } finally {
          await rm(tmp, { force: true });
        }
      }
      case 'pcapStart':
        await driver.pcapStart(t, { filter: cmd.args.filter, maxMb: cmd.args.maxMb, maxMinutes: cmd.args.maxMinutes });
        return { outcome: 'success', data: { maxMb: cmd.args.maxMb, maxMinutes: cmd.args.maxMinutes, ...(cmd.args.filter ? { filter: cmd.args.filter } : {}) } };
      case 'pcapStop':
        return { outcome: 'success', data: { file: await this.collectCapture(driver, t) } };
      case 'pcapCancel':
        await driver.pcapCancel(t);
        return { outcome: 'success', data: { kept: false } };
      case 'adPassword':
        await driver.adPassword(t, cmd.args.password);
        return { outcome: 'success' };
      case 'checkSync':
        await driver.checkSync(t);
        return { outcome: 'success' };
      case 'status': {
        const snap = await readSnapshot(driver, t, this.deps.now());
        this.deps.onStatus(deviceId, snap);
        return snap.online ? { outcome: 'success', data: { ...snap } } : { outcome: 'failure', reason: 'the phone is offline (no connection)', data: { ...snap } };
      }
    }
  }

  private async collectCapture(driver: Driver, t: DeviceTarget): Promise<unknown> {
    const base = this.deps.relayBaseUrl();
    if (!base) throw new DeviceError('UPLOAD_FAILED', "the relay's phone-facing HTTPS port is not up, so the phone has nowhere to upload its capture", { reached: false });
    // 10 MB is the phone's capture ceiling; allow framing overhead.
    const slot = await this.deps.inbox.open(t.ip, base, 12 * 1024 * 1024, this.deps.captureWaitMs ?? timeouts.captureUpload.ms);
    try {
      await driver.pcapStop(t, slot.url);
    } catch (err) {
      slot.cancel();
      throw err;
    }
    const raw = await slot.file;
    const stem = fileStem(t.mac, this.deps.now());
    const dir = join(this.deps.workDir, `pack-${randomBytes(6).toString('hex')}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const inner = `${stem}.pcap`;
      await rename(raw, join(dir, inner));
      const archive = join(dir, `${stem}.pcap.tar.gz`);
      // tar is needed only for captures: loaded here, not at daemon start.
      const { create: tarCreate } = await import('tar');
      await tarCreate({ gzip: true, cwd: dir, file: archive, portable: true }, [inner]);
      return await this.deps.files.upload(archive, `${stem}.pcap.tar.gz`, 'application/gzip');
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(raw, { force: true });
    }
  }

  private async tmpPath(): Promise<string> {
    await mkdir(this.deps.workDir, { recursive: true, mode: 0o700 });
    return join(this.deps.workDir, `tmp-${randomBytes(8).toString('hex')}`);
  }

  private async uploadBuffer(buf: Buffer, name: string, type: string): Promise<unknown> {
    const tmp = await this.tmpPath();
    try {
      await writeFile(tmp, buf, { mode: 0o600 });
      return await this.deps.files.upload(tmp, name, type);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
