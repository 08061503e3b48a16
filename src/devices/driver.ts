import type { Readable } from 'node:stream';
import type { Outcome } from '../core/outbound-frames.js';

/**
 * What the relay can ask of one phone, whatever its vendor. A driver knows phones, not the
 * DMS: it takes an address and credentials and returns what the phone confirmed, or throws
 * a DeviceError saying why not (and whether the request may have reached the phone).
 */
export interface DeviceTarget {
  readonly mac: string;
  readonly ip: string;
  readonly port?: number | undefined;
  readonly model: string;
  /** The target's own account; without it the vendor's relay-wide default (setting accounts.<vendor>) applies. */
  readonly credentials?: DeviceAccount | undefined;
  /** When the task expires (epoch ms): a driver that waits for the phone (OpenStage busy) waits no longer. */
  readonly expiresAt?: number | undefined;
}

/** A login on a phone: a target's own, or the relay-wide default of its vendor. */
export interface DeviceAccount {
  readonly user: string;
  readonly password: string;
}

export interface DeviceInfo {
  readonly model: string;
  readonly mac: string;
  readonly firmware: string;
  readonly uptimeSeconds: number;
}

export interface LineStatus {
  readonly line: number;
  readonly uri: string;
  readonly registered: boolean;
}

export interface CallInfo {
  readonly handle: string;
  readonly state: string;
  readonly type: string;
  readonly remote: string;
}

export interface CallStateInfo {
  readonly state: 'idle' | 'in_call';
  readonly calls: readonly CallInfo[];
}

export interface ParamsRead {
  readonly values: Record<string, { value: string; source: string }>;
  /** Names the phone did not recognise (its InvalidParams). */
  readonly invalid: readonly string[];
}

export type ResetScope = 'web' | 'local' | 'device' | 'all' | 'factory';
export type ConfigSource = 'config' | 'local' | 'web' | 'device' | 'all';

export interface ScreenImage {
  readonly body: Readable;
  readonly contentType: string;
  /** File extension matching the content type, without the dot. */
  readonly ext: string;
}

// The protocol's per-device outcome (task.result), defined once on the ground floor.
export type { Outcome };

/** How one command ended on one phone (a task.result without its ids). */
export interface CommandResult {
  outcome: Outcome;
  reason?: string;
  data?: Record<string, unknown>;
}

/** What the relay knows of one phone's state (a device.status without its id). */
export interface DeviceStatus {
  online: boolean;
  uptimeSeconds?: number;
  lastRebootAt?: string;
  lines?: LineStatus[];
  callState?: 'idle' | 'in_call';
  firmware?: string;
}

/** An image of the desired set (PROTOCOL §5) that the relay's cache holds verified. */
export interface CachedImage {
  readonly imageId: string;
  readonly version: string;
  /** The path phones fetch it by on the relay's phone-facing port. */
  readonly path: string;
}

export type FileType = 'logo' | 'ringtone' | 'screensaver' | 'pic' | 'ldap' | 'moh';

/** How a firmware update ended; a task.result or a rollout.result is made from it. */
export interface FirmwareResult {
  readonly outcome: Outcome;
  /** The phone already ran the image's version: nothing was done to it. */
  readonly alreadyCurrent?: boolean;
  readonly fromVersion?: string | undefined;
  /** The version the phone came back with. */
  readonly toVersion?: string | undefined;
  /** Whether the relay saw the phone fetch the image from its cache. */
  readonly fetchedFromCache?: boolean;
  readonly reason?: string | undefined;
}

/**
 * One vendor's phones. `readStatus` and `close` are what every driver has; each command
 * method is there only on drivers that can do it, and the registry's `supports` list is what
 * decides whether a kind is tried at all (devices/registry.ts). A method resolves with what
 * the phone confirmed or throws a DeviceError saying why not.
 */
export interface Driver {
  /** Identity, lines, call state and firmware in one read; throws when the phone cannot be asked. */
  readStatus(t: DeviceTarget, now: number): Promise<DeviceStatus>;
  /** Restarts without cutting a call; `deferred` when the phone will reboot after its call ends. */
  reboot?(t: DeviceTarget): Promise<{ deferred: boolean }>;
  /** Places a call and returns only once the phone shows it in its call status. */
  dial?(t: DeviceTarget, to: string, dialType: 'sip' | 'tel', line: number): Promise<{ callHandle: string; callState: string }>;
  reset?(t: DeviceTarget, scope: ResetScope): Promise<void>;
  getParams?(t: DeviceTarget, names: readonly string[]): Promise<ParamsRead>;
  /** Returns how many chunks were sent (the phone takes at most 20 values per call). */
  setParams?(t: DeviceTarget, values: Readonly<Record<string, string>>): Promise<{ chunks: number; waitedForIdle?: boolean }>;
  getConfig?(t: DeviceTarget, source: ConfigSource): Promise<unknown>;
  screenCapture?(t: DeviceTarget): Promise<ScreenImage>;
  pcapStart?(t: DeviceTarget, opts: { filter?: string | undefined; maxMb: number; maxMinutes: number }): Promise<void>;
  /** Asks the phone to upload its capture to `uploadUrl` now, then stops capturing. */
  pcapStop?(t: DeviceTarget, uploadUrl: string): Promise<void>;
  /** Stops capturing; nothing is uploaded. */
  pcapCancel?(t: DeviceTarget): Promise<void>;
  adPassword?(t: DeviceTarget, password: string): Promise<void>;
  /** Makes the phone fetch its configuration from the provisioning server now. */
  checkSync?(t: DeviceTarget): Promise<void>;
  /**
   * `trigger`: brings the phone to the image's version (a phone already on it ends
   * alreadyCurrent, untouched), waits for it to come back and reads its version.
   * `verify`: only reads what the phone runs now (after a crash mid-upgrade). Shared by the
   * updateFirmware command and rollouts, under the per-phone lock.
   */
  updateFirmware?(t: DeviceTarget, image: CachedImage, mode: 'trigger' | 'verify'): Promise<FirmwareResult>;
  /** Makes the phone fetch a file (logo, ringtone…) of a cached image from the relay. */
  deployFile?(t: DeviceTarget, image: CachedImage, fileType: FileType): Promise<CommandResult>;
  close(): Promise<void>;
}
