/**
 * Every Polycom detail the spec (device-protocols.md) marks as inferred (I), in one place,
 * so a finding on a real phone is a one-line fix here and nowhere else.
 */

/** §1.1: an unknown default; the REST user is `Polycom` unless the target names another. */
export const DEFAULT_USER = 'Polycom';

/**
 * §1.1/§1.2: a 404 means either "API disabled" or "this endpoint does not exist here". We tell
 * them apart by asking for device info, which every REST-enabled firmware has (I).
 */
export const API_PROBE_PATH = '/api/v2/mgmt/device/info';

/** §1.5: safeReboot (full reboot) answers 2000 and defers while a call is up (I). */
export const REBOOT_PATH = '/api/v1/mgmt/safeReboot';

/** §1.5 reset scopes mapped from the Web UI labels (I). */
export const RESET_PATHS = {
  local: '/api/v1/mgmt/configReset/local',
  web: '/api/v1/mgmt/configReset/web',
  device: '/api/v1/mgmt/configReset/device',
  all: '/api/v1/mgmt/configReset',
  factory: '/api/v1/mgmt/factoryReset',
} as const;

/** §1.5: factory and configuration resets do not wait for a call, so the relay checks first (I). */
export const REFUSE_RESET_IN_CALL = true;

/**
 * getConfig: `all` is the running configuration (C); one source at a time is exported with
 * `config/export` and a `Source` field (I: status 4008 "config export failed" implies it).
 */
export const RUNNING_CONFIG_PATH = '/api/v1/mgmt/device/runningConfig';
export const CONFIG_EXPORT_PATH = '/api/v1/mgmt/config/export';
export const CONFIG_EXPORT_SOURCE = { config: 'config', local: 'local', web: 'web', device: 'device' } as const;

/** dial: how long and how often to look for the new call in callStatus (§1.5 "poll every 1–2 s", I). */
export const DIAL_CONFIRM = { attempts: 5, intervalMs: 1_000 } as const;
/** Call states that prove an outgoing call exists (§2.1 call states). */
export const LIVE_CALL_STATES: ReadonlySet<string> = new Set([
  'Dialtone',
  'Setup',
  'Ringback',
  'Connected',
  'Offering',
  'CallConference',
  'CallHold',
  'CallHeld',
  'Hold',
  'Held',
  'CallConfHold',
  'CallConfHeld',
  'CallRemoteActive',
]);

/** pcap: parameter names of the background capture (§1.3 names the switches; size/duration/filter are I). */
export const PCAP_PARAMS = {
  enabled: 'diags.pcap.enabled',
  background: 'diags.pcap.background.enabled',
  filter: 'diags.pcap.background.filter',
  sizeMb: 'diags.pcap.background.size',
  durationMinutes: 'diags.pcap.background.duration',
} as const;

/** adPassword: the Active Directory password parameter (I). */
export const AD_PASSWORD_PARAM = 'device.auth.adPassword';

/** §1.5 screen capture: newer firmware first, then the older path (I: order and image type). */
export const SCREEN_LOGIN_PATH = '/form-submit/auth.htm';
export const SCREEN_PATHS = ['/captureScreen/mainScreen', '/captureScreen'] as const;
export const SCREEN_TYPES: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/bmp': 'bmp', 'image/jpeg': 'jpg', 'image/x-ms-bmp': 'bmp' };

/** Config get/set: 20 names per request is confirmed; oversize gives 4009 (I). */
export const MAX_PARAMS_PER_CALL = 20;

/** §1.2: a non-2000 status in an HTTP 200 body is the API's failure (I); these mean "not here". */
export const NOT_SUPPORTED_STATUS: ReadonlySet<string> = new Set(['4004']);
export const BUSY_STATUS: ReadonlySet<string> = new Set(['4001']);
/** How long to wait after 4001 when the phone gives no Retry-After (I). */
export const BUSY_BACKOFF_MS = 2_000;

/** A Polycom upgrade reboots, flashes and re-provisions: minutes on real phones. Looked at every 5 s, given up after 20 min. */
export const FIRMWARE_WAIT = { pollMs: 5_000, timeoutMs: 20 * 60_000 } as const;
