/**
 * Every time limit the relay puts on a wait, in one table (the way undici documents
 * headersTimeout, bodyTimeout and its connect timeout): what each bounds, its default, and
 * the setting that overrides it where an admin can. Code reads the default from here instead
 * of repeating a number; docs/timeouts.md is generated from it (`npm run docs:errors -- --write`)
 * and a test fails when a bare `?? 30_000` style default reappears in src/.
 *
 * Imports nothing, so every part (and the ground floor) can depend on it.
 */

/**
 * `timeout`: the wait fails when it runs out. `idle`: an unused connection is closed after it.
 * `interval`: how often something is done or checked. `delay`: first wait before a retry
 * (retries then back off from it). `threshold`: a wait longer than this is reported.
 */
export type TimeoutKind = 'timeout' | 'idle' | 'interval' | 'delay' | 'threshold';

/** Which side of the relay the wait faces; docs/timeouts.md groups by it. */
export type TimeoutArea = 'dms' | 'phone-https' | 'firmware' | 'devices' | 'local';

export interface TimeoutSpec {
  readonly area: TimeoutArea;
  readonly kind: TimeoutKind;
  /** Default in milliseconds. */
  readonly ms: number;
  /** What runs out, and what happens then. */
  readonly bounds: string;
  /** The config setting (path as in the settings table) that replaces the default. */
  readonly setting?: string;
}

export const timeouts = {
  // the DMS
  dmsHttp: {
    area: 'dms',
    kind: 'timeout',
    ms: 15_000,
    bounds: 'Registration and heartbeat calls: waiting for the DMS answer headers, and between body chunks; the whole call is abandoned after twice this.',
  },
  dmsIdle: {
    area: 'dms',
    kind: 'idle',
    ms: 30_000,
    bounds: 'An idle keep-alive connection to the DMS API, the provisioning server or a firmware origin is closed after this.',
  },
  controlHandshake: {
    area: 'dms',
    kind: 'timeout',
    ms: 15_000,
    bounds: 'Opening the control-channel WebSocket (TCP, TLS and the HTTP upgrade); then the relay reconnects with backoff.',
  },
  controlPing: {
    area: 'dms',
    kind: 'interval',
    ms: 25_000,
    bounds:
      'The relay pings the DMS this often on the control channel; a DMS that has not answered by the next ping is dead (half-open) and the socket is replaced (CONTROL_PEER_SILENT).',
  },
  controlAck: {
    area: 'dms',
    kind: 'timeout',
    ms: 60_000,
    bounds: 'A frame sent to the DMS unacknowledged this long on a live connection makes the relay reconnect and resend (CONTROL_ACK_TIMEOUT).',
  },
  controlClose: {
    area: 'dms',
    kind: 'timeout',
    ms: 2_000,
    bounds: 'At shutdown: flushing the outbox, then the WebSocket close handshake, each at most this.',
  },
  heartbeatDefaultInterval: {
    area: 'dms',
    kind: 'interval',
    ms: 120_000,
    bounds: 'Heartbeat period until the DMS names one at registration (the DMS value wins; never below 5 s).',
  },
  imageCatalogue: {
    area: 'dms',
    kind: 'timeout',
    ms: 30_000,
    bounds: 'Fetching the image catalogue from the DMS: answer headers, and between body chunks (CATALOGUE_UNREACHABLE).',
  },
  imageSyncRetry: {
    area: 'dms',
    kind: 'delay',
    ms: 30_000,
    bounds: 'First wait before an image sync that failed is tried again; doubles per failure, up to cache.periodicSyncMinutes.',
  },
  dmsUpload: {
    area: 'dms',
    kind: 'timeout',
    ms: 60_000,
    bounds: 'Uploading a file a phone produced (capture, screen) to the DMS: answer headers, and between body chunks (UPLOAD_FAILED).',
  },
  dmsUploadRetry: {
    area: 'dms',
    kind: 'delay',
    ms: 2_000,
    bounds: 'First wait before a failed upload to the DMS is tried again; doubles per attempt.',
  },

  // the phone-facing HTTPS port and provisioning pass-through
  phoneHeaders: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 10_000,
    bounds: 'A phone must send its request headers within this, or gets 408 (slow-header protection).',
    setting: 'proxy.headersTimeoutMs',
  },
  phoneRequest: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 300_000,
    bounds: 'A phone must finish sending its whole request, upload included, within this.',
    setting: 'proxy.requestTimeoutMs',
  },
  proxyProtocolHeader: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 3_000,
    bounds:
      'With lb.proxyProtocol, a load balancer must send the whole PROXY header within this after connecting (the spec asks receivers to wait at least 3 s), or the connection is closed (PROXY_HEADER_TIMEOUT).',
  },
  phoneHandshake: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 10_000,
    bounds:
      'A connection to the phone port or the OpenStage DLS port must finish its TLS handshake within this, or it is closed (idle-connection protection; counted in PHONE_CONNECTIONS_CUT).',
    setting: 'proxy.handshakeTimeoutMs',
  },
  phoneCutReport: {
    area: 'phone-https',
    kind: 'interval',
    ms: 10_000,
    bounds:
      'Phone-port connections cut for idleness or slowness, or refused over proxy.maxConnections, are logged as one PHONE_CONNECTIONS_CUT line with counts at most this often.',
  },
  phoneIdle: {
    area: 'phone-https',
    kind: 'idle',
    ms: 30_000,
    bounds: 'An idle keep-alive connection from a phone is closed after this.',
  },
  tlsSession: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 3_600_000,
    bounds: 'A phone may resume a TLS session (tickets or session ids: no full handshake) for this long after it was made.',
  },
  provisioningUpstream: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 30_000,
    bounds: 'Pass-through to the provisioning server: its answer headers, and between body chunks; the phone gets 504.',
    setting: 'proxy.upstreamTimeoutMs',
  },
  provisioningConnect: {
    area: 'phone-https',
    kind: 'timeout',
    ms: 10_000,
    bounds: 'Connecting (TCP and TLS) to the provisioning server, at most proxy.upstreamTimeoutMs; the phone gets 504.',
  },

  // the firmware cache
  firmwareHeaders: {
    area: 'firmware',
    kind: 'timeout',
    ms: 30_000,
    bounds: "Filling the cache: the origin's answer headers (CACHE_UPSTREAM, retried).",
  },
  firmwareBody: {
    area: 'firmware',
    kind: 'timeout',
    ms: 60_000,
    bounds: 'Filling the cache: the gap between two body chunks from the origin (CACHE_UPSTREAM, resumed).',
  },
  firmwareFillRetry: {
    area: 'firmware',
    kind: 'delay',
    ms: 1_000,
    bounds: 'First wait before a failed fill is tried again (jittered); doubles per attempt up to firmwareFillRetryCap.',
  },
  firmwareFillRetryCap: {
    area: 'firmware',
    kind: 'delay',
    ms: 30_000,
    bounds: 'Longest wait between two attempts of one fill.',
  },
  firmwareAccessCheck: {
    area: 'firmware',
    kind: 'timeout',
    ms: 10_000,
    bounds: "The HEAD request that checks a phone's credentials with the provisioning server before serving a cached file; fails closed (502).",
  },

  // phones (device commands and monitoring)
  deviceRequest: {
    area: 'devices',
    kind: 'timeout',
    ms: 10_000,
    bounds: 'One call to a phone: answer headers, and between body chunks (TIMEOUT).',
    setting: 'devices.requestTimeoutMs',
  },
  deviceConnect: {
    area: 'devices',
    kind: 'timeout',
    ms: 10_000,
    bounds: 'Connecting (TCP and TLS) to a phone, at most devices.requestTimeoutMs (CONNECT_FAILED, retried).',
  },
  deviceIdle: {
    area: 'devices',
    kind: 'idle',
    ms: 4_000,
    bounds: 'An idle connection to a phone is closed after this (phones hold few sockets).',
  },
  captureUpload: {
    area: 'devices',
    kind: 'timeout',
    ms: 120_000,
    bounds: 'After pcapStop/screen capture the phone must upload its file to the relay within this (UPLOAD_FAILED).',
  },
  openstageContactMe: {
    area: 'devices',
    kind: 'interval',
    ms: 60_000,
    bounds:
      'At most one contact-me per OpenStage phone within this, also across a restart of the relay (their web server falls over under faster retries); a command needing another one sooner waits (retried as busy) or, if its task expires first, fails RATE_LIMITED.',
    setting: 'openstage.contactMeIntervalSeconds',
  },
  openstageCallback: {
    area: 'devices',
    kind: 'timeout',
    ms: 30_000,
    bounds:
      'After a contact-me the OpenStage phone must open its interaction with the DLS port within this, three times devices.requestTimeoutMs (TIMEOUT). Each later step of the interaction waits devices.requestTimeoutMs.',
  },
  openstageBusyWait: {
    area: 'devices',
    kind: 'timeout',
    ms: 30 * 60_000,
    bounds:
      "An OpenStage write refused busy (a call) waits for the phone's solicited contact until the task expires, or this long when the task has no expiry (TIMEOUT, nothing written).",
  },
  openstageDlsRequest: {
    area: 'devices',
    kind: 'timeout',
    ms: 30_000,
    bounds: 'A phone must send its request to the OpenStage DLS port within this (at least devices.requestTimeoutMs).',
  },
  rolloutIdleRecheck: {
    area: 'devices',
    kind: 'interval',
    ms: 60_000,
    bounds:
      'A rollout asks again after this whether a phone it found in a call has hung up; the phone waits for idle meanwhile (a phone idle for less than idleMinutes is asked again when they are up).',
    setting: 'devices.rolloutIdleRecheckSeconds',
  },
  taskLate: {
    area: 'devices',
    kind: 'threshold',
    ms: 2_000,
    bounds: 'A scheduled task that starts later than this after executeAt says how late in its results (lateSeconds).',
  },
  taskStateEvery: {
    area: 'devices',
    kind: 'interval',
    ms: 1_000,
    bounds: 'task.state progress frames are sent at most this often per task.',
  },

  // this machine
  shutdownGrace: {
    area: 'local',
    kind: 'timeout',
    ms: 30_000,
    bounds: 'SIGTERM: in-flight work may finish within this before the relay exits (a second signal exits at once).',
    setting: 'shutdownGraceSeconds',
  },
  dbBusy: {
    area: 'local',
    kind: 'timeout',
    ms: 5_000,
    bounds: 'Waiting for a lock on the SQLite database held by another process (a CLI command).',
  },
  adminIdle: {
    area: 'local',
    kind: 'idle',
    ms: 5_000,
    bounds: 'An idle keep-alive connection to the admin port (health, metrics, status) is closed after this.',
  },
  clockStepCheck: {
    area: 'local',
    kind: 'interval',
    ms: 10_000,
    bounds:
      'How often the relay compares the wall clock with the monotonic clock; a step of more than clockStepThreshold re-arms tasks and rollouts due at wall-clock times (CLOCK_STEPPED).',
  },
  clockStepThreshold: {
    area: 'local',
    kind: 'threshold',
    ms: 5_000,
    bounds: 'A wall-clock jump larger than this between two checks counts as a clock step (smaller ones are NTP slewing or a busy event loop).',
  },
  storeFullProbe: {
    area: 'local',
    kind: 'interval',
    ms: 5_000,
    bounds: 'While the data directory is full (STORE_FULL), how often the relay tries a small write to notice that space is back (each /readyz call tries too).',
  },
  certWatch: {
    area: 'local',
    kind: 'interval',
    ms: 2_000,
    bounds: 'How often a running relay looks for a certificate installed by `cloud-relay cert install`.',
  },
  sdNotify: {
    area: 'local',
    kind: 'timeout',
    ms: 10_000,
    bounds: 'Running systemd-notify to report ready/stopping to systemd.',
  },
  cliAdminCall: {
    area: 'local',
    kind: 'timeout',
    ms: 5_000,
    bounds: 'A CLI command (status, images, diag) asking the running relay over the admin port.',
  },
  doctorStep: {
    area: 'dms',
    kind: 'timeout',
    ms: 10_000,
    bounds: '`cloud-relay doctor`: each step on the path to the DMS (DNS, TCP or proxy CONNECT, TLS, the API call, the WebSocket upgrade) fails when it takes longer.',
  },
  cliRolloutsFollow: {
    area: 'local',
    kind: 'interval',
    ms: 1_000,
    bounds: '`cloud-relay rollouts --follow` asking the running relay again and redrawing its progress bars.',
  },
  cliImagesFollow: {
    area: 'local',
    kind: 'interval',
    ms: 500,
    bounds: '`cloud-relay images --follow` asking the running relay again and redrawing its progress bars.',
  },
  cliImagesFollowStall: {
    area: 'local',
    kind: 'timeout',
    ms: 600_000,
    bounds: '`cloud-relay images --follow` gives up (exit 75) when the image list has not changed for this long while a sync is said to run.',
  },
  cliJournal: {
    area: 'local',
    kind: 'timeout',
    ms: 30_000,
    bounds: '`cloud-relay diag` reading the journal with journalctl.',
  },
} as const satisfies Record<string, TimeoutSpec>;

export type TimeoutName = keyof typeof timeouts;
