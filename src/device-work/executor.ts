import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CachedImage, Driver, DeviceTarget } from '../devices/driver.js';
import { DeviceError } from '../devices/errors.js';
import { runCommand, type Command, type CommandContext, type CommandResult } from '../devices/commands.js';
import type { CaptureInbox } from './capture-inbox.js';
import type { FileUploader } from './ports.js';
import { readSnapshot, type DeviceSnapshot } from './monitor/snapshot.js';
import { timeouts } from '../core/timeouts.js';

export type { CommandResult } from '../devices/commands.js';

export interface ExecutorDeps {
  readonly files: FileUploader;
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
  /**
   * Images of the desired set as the cache holds them, for updateFirmware and deployFile.
   * Without it every image is unknown (no driver takes those kinds yet).
   */
  readonly images?: (imageId: string) => (CachedImage & { synced: boolean }) | undefined;
}

/** {mac}_{yyyy.mm.dd_hhmmss} in UTC, the DMS's file naming (PROTOCOL §4). */
export function fileStem(mac: string, at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mac.toLowerCase().replace(/[^0-9a-f]/g, '')}_${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}_${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/**
 * Runs one command against one phone through its entry in the command table
 * (devices/commands.ts), lending it the relay's side: file delivery to the DMS, the capture
 * inbox and the monitor's status book. DeviceErrors escape to the runner, which decides
 * about retries and maps the last one to an outcome.
 */
export class CommandExecutor {
  constructor(private readonly deps: ExecutorDeps) {}

  run(driver: Driver, t: DeviceTarget, cmd: Command, deviceId: string): Promise<CommandResult> {
    const ctx: CommandContext = {
      driver,
      target: t,
      fileStem: () => fileStem(t.mac, this.deps.now()),
      deliver: (body, name, type) => this.deliver(body, name, type),
      collectCapture: () => this.collectCapture(driver, t),
      readStatus: async () => {
        const snap = await readSnapshot(driver, t, this.deps.now());
        this.deps.onStatus(deviceId, snap);
        return snap;
      },
      image: (imageId) => this.deps.images?.(imageId),
    };
    return runCommand(ctx, cmd);
  }

  private async collectCapture(driver: Driver, t: DeviceTarget): Promise<unknown> {
    if (!driver.pcapStop) throw new DeviceError('NOT_SUPPORTED', `this relay's driver for ${t.ip} cannot collect a packet capture`, { reached: false });
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

  /** Spools a body to scratch space (the uploader resends from disk), uploads it, removes it. */
  private async deliver(body: Buffer | Readable, name: string, type: string): Promise<unknown> {
    await mkdir(this.deps.workDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.deps.workDir, `tmp-${randomBytes(8).toString('hex')}`);
    try {
      if (Buffer.isBuffer(body)) await writeFile(tmp, body, { mode: 0o600 });
      else await pipeline(body, createWriteStream(tmp, { mode: 0o600 }));
      return await this.deps.files.upload(tmp, name, type);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
