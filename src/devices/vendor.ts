import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.js';
import type { ListenAddress } from '../config/listen.js';
import type { PhoneRoute } from '../core/phone-route.js';
import type { CommandKind } from './commands.js';
import type { DeviceAccount, DeviceStatus, Driver } from './driver.js';
import type { PinStore, TlsPolicy } from './tls-policy.js';
import type { FirmwareServed, FirmwareWait, GrantDownload } from './firmware.js';

/**
 * The contract between the relay and one vendor's driver: what the relay lends every driver
 * (connection policy, a log, a place for what phones push), and what a vendor module gives
 * back (the kinds it supports, a driver, and any phone-facing routes its phones call).
 */

/** Something a phone pushed to the relay on its own (a notification, a call-back). */
export interface PhoneEvent {
  /** The address the phone posted from. */
  readonly ip: string;
  /** The MAC the phone names, used when the address is not a known device's. */
  readonly mac?: string | undefined;
  /** The normalised event as a device.event carries it (`type` plus the phone's fields). */
  readonly event: Record<string, unknown>;
  /** What the event says about the phone's status, applied to the last known one. */
  readonly status?: (prev: DeviceStatus | undefined) => DeviceStatus;
}

/** Where drivers hand what phones push; device work turns it into device.event / device.status. */
export interface PhoneEventSink {
  event(e: PhoneEvent): void;
  /** A push refused as malformed or too big (counted for the status document). */
  refused(): void;
}

/** The phone port's certificate, for a vendor that listens on a port of its own. */
export interface TlsSource {
  current(): SecureContextOptions;
  onChange(listener: (options: SecureContextOptions) => void): void;
}

/** Where the OpenStage DLS port listens (settings `openstage.*`). */
export interface DlsSettings {
  readonly listen: ListenAddress;
  readonly paths: readonly string[];
  readonly tls: TlsSource;
  /** A connection must finish its TLS handshake within this (proxy.handshakeTimeoutMs). */
  readonly handshakeTimeoutMs: number;
  /** Open connections at most (proxy.maxConnections). */
  readonly maxConnections: number;
  /** At most one contact-me per phone within this (openstage.contactMeIntervalSeconds). */
  readonly contactMeIntervalMs?: number | undefined;
}

/**
 * When each phone was last sent a contact-me (wall-clock ms), kept where a restart of the
 * relay finds it again (the store); drivers only read and write through this.
 */
export interface ContactMeLedger {
  last(ip: string): number | undefined;
  /** Written before the contact-me goes out, so a crash right after cannot forget it. */
  record(ip: string, at: number): void;
  /** Takes back the one recorded at `at` (it never reached the phone). */
  forget(ip: string, at: number): void;
  /** Drops entries sent before `before`. */
  prune(before: number): number;
}

export interface DriverEnv {
  readonly tlsPolicy: TlsPolicy;
  readonly caFile?: string | undefined;
  readonly requestTimeoutMs: number;
  readonly pins: PinStore;
  readonly log: Logger;
  readonly phoneEvents: PhoneEventSink;
  /** The OpenStage DLS port; without it OpenStage commands fail saying so. */
  readonly dls?: DlsSettings | undefined;
  /** Where contact-mes are remembered across restarts; in memory (this process only) without it. */
  readonly contactMes?: ContactMeLedger | undefined;
  readonly now?: () => number;
  /** Whether the relay's cache served a phone an image (firmware results say so). */
  readonly firmwareServed?: FirmwareServed | undefined;
  /** How long an upgrading phone is waited for (tests and benches shorten it). */
  readonly firmwareWait?: FirmwareWait | undefined;
  /** Relay-wide accounts by vendor (settings accounts.<vendor>): what a target without credentials inherits. */
  readonly accounts?: Readonly<Partial<Record<string, DeviceAccount>>> | undefined;
  /** Per-phone download URLs of cached images (OpenStage deployments: the phone sends no credentials). */
  readonly grantDownload?: GrantDownload | undefined;
  /** Test knob: how a dial is confirmed (tests use a short interval). */
  readonly dialConfirm?: { attempts: number; intervalMs: number };
}

export interface VendorInstance {
  readonly driver: Driver;
  /** Routes on the relay's phone-facing HTTPS port that this vendor's phones call. */
  readonly routes: readonly PhoneRoute[];
  /** Opens the vendor's own listeners (started with device work); returns them by listener name. */
  start?(): Promise<Readonly<Record<string, AddressInfo>>>;
}

export interface VendorModule {
  /** The vendor as targets name it (PROTOCOL §3 `vendor`). */
  readonly vendor: string;
  /** The vendor as results and logs name it. */
  readonly label: string;
  /** Command kinds this driver runs; every other kind ends not_applicable before anything is sent. */
  readonly supports: ReadonlySet<CommandKind>;
  create(env: DriverEnv): VendorInstance;
}
