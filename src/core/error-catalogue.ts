/**
 * Every code the relay can log, answer a caller with (HTTP body, nack reason, task result) or
 * exit with. Codes are the operator interface: admins grep logs and search docs/errors.md
 * for them, tests assert them. Never rename one; add a new code instead.
 *
 * `docs/errors.md` is generated from this table (`npm run docs:errors`) and a test fails when
 * a code used in src/ is missing here or an entry here is used nowhere.
 *
 * This module imports nothing so every part (and the ground floor) can depend on it.
 */

/** Which part of the relay raises the code; docs/errors.md groups by it. */
export type ErrorArea =
  | 'startup'
  | 'config'
  | 'store'
  | 'registration'
  | 'outbound-proxy'
  | 'heartbeat'
  | 'control'
  | 'frames'
  | 'certificate'
  | 'phone-https'
  | 'ip-guard'
  | 'cache'
  | 'images'
  | 'devices'
  | 'rollouts';

/**
 * Whether trying the same thing again, unchanged, can succeed: `yes` (transient; the relay
 * retries by itself where it can), `no` (an admin or the DMS must change something first),
 * `depends` (the detail decides, e.g. the upstream HTTP status).
 */
export type Retry = 'yes' | 'no' | 'depends';

export interface ErrorSpec {
  readonly area: ErrorArea;
  /** What it means for an admin, and what to do, in one or two sentences. */
  readonly sentence: string;
  readonly retry: Retry;
  /** sysexits(3) status of the command that stops because of this code, where one does. */
  readonly exit?: number;
}

// Values of src/errors.ts ExitCode, repeated here because this module imports nothing.
const EX_FAILURE = 1;
const EX_NOINPUT = 66;
const EX_UNAVAILABLE = 69;
const EX_CANTCREAT = 73;
const EX_CONFIG = 78;

export const errorCatalogue = {
  // startup
  START_FAILED: {
    area: 'startup',
    sentence: 'The daemon failed to start for a reason without a more specific code; the log line carries the underlying error.',
    retry: 'depends',
    exit: EX_UNAVAILABLE,
  },
  SYSTEMD_NOTIFY_FAILED: {
    area: 'startup',
    sentence: 'systemd-notify could not report ready/stopping to systemd (not installed, or not run by systemd with Type=notify); the relay runs on.',
    retry: 'no',
  },
  CREDENTIALS_MISSING: {
    area: 'startup',
    sentence: 'There is no tenant ID and PIN to register with: set tenantId and pin (or pinFile) in the config, or run `cloud-relay register` once.',
    retry: 'no',
    exit: EX_CONFIG,
  },

  // config
  CONFIG_INVALID: {
    area: 'config',
    sentence: 'One or more settings are invalid; the message lists every problem with its setting path.',
    retry: 'no',
    exit: EX_CONFIG,
  },

  // store
  DATA_DIR_UNUSABLE: {
    area: 'store',
    sentence: 'The data directory cannot be created or restricted to the relay user (mode 0700); check its path, owner and free space.',
    retry: 'no',
    exit: EX_CANTCREAT,
  },
  DB_OPEN_FAILED: {
    area: 'store',
    sentence: 'The SQLite database in the data directory cannot be opened or migrated; the message says why.',
    retry: 'no',
    exit: EX_UNAVAILABLE,
  },
  DB_TOO_NEW: {
    area: 'store',
    sentence: 'The database was migrated by a newer cloud-relay; upgrade the relay again or restore a backup of the data directory.',
    retry: 'no',
    exit: EX_UNAVAILABLE,
  },
  DB_CORRUPT: {
    area: 'store',
    sentence:
      'The database file is damaged: run `cloud-relay db check`, stop the relay, move relay.db and its -wal/-shm aside for support, then restore a backup or start without them (the DMS resends its work after the relay registers again).',
    retry: 'no',
    exit: EX_CONFIG,
  },
  CLOCK_STEPPED: {
    area: 'devices',
    sentence:
      'The system clock jumped (NTP, an admin, a VM resume). Scheduled tasks and rollouts are re-armed for their wall-clock times: none runs twice and none is dropped; heartbeats go on. Check NTP if it recurs.',
    retry: 'no',
  },
  STORE_FULL: {
    area: 'store',
    sentence:
      'The data directory is full (SQLite SQLITE_FULL): new DMS frames are nacked, /readyz answers 503, phones are still served from the cache. Free space there; the relay notices within seconds, no restart needed. Logged once per episode.',
    retry: 'yes',
  },
  SECRETS_KEY_MISSING: {
    area: 'store',
    sentence:
      'The key that seals device passwords in the database is missing: restore the key file (secretsKeyFile, default <dataDir>-keys/secrets.key), or run `cloud-relay db forget-secrets` to give up the sealed secrets.',
    retry: 'no',
    exit: EX_CONFIG,
  },
  SECRETS_KEY_MISMATCH: {
    area: 'store',
    sentence: "The secrets key file holds another key than the one the database's secrets are sealed with: put the original file back, or run `cloud-relay db forget-secrets`.",
    retry: 'no',
    exit: EX_CONFIG,
  },
  SECRETS_KEY_INVALID: {
    area: 'store',
    sentence: 'The secrets key file does not hold a 256-bit key (32 bytes raw, base64 or hex): restore the right file.',
    retry: 'no',
    exit: EX_CONFIG,
  },
  SECRETS_KEY_UNUSABLE: {
    area: 'store',
    sentence: 'The secrets key file cannot be read or created: check its directory and permissions, or set secretsKeyFile to a writable path outside the data directory.',
    retry: 'no',
    exit: EX_CONFIG,
  },
  SECRETS_UNREADABLE: {
    area: 'store',
    sentence: 'A stored secret cannot be opened (sealed with a key the relay no longer has, or damaged); the command that needed it fails, and the DMS can send the task again.',
    retry: 'no',
  },
  OUTBOX_FULL: {
    area: 'store',
    sentence: 'The outbox of frames for the DMS reached its row limit because the DMS has acknowledged nothing for a long time; new frames are refused until it drains.',
    retry: 'yes',
  },

  // registration and the DMS API
  REGISTRATION_REJECTED: {
    area: 'registration',
    sentence: 'The DMS refused the tenant ID or PIN (HTTP 401); fix the credentials. The relay keeps retrying with backoff in case the DMS side is being fixed.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  LICENSE_EXPIRED: {
    area: 'registration',
    sentence: "The DMS says the tenant's license has expired; the relay retries hourly until it is renewed.",
    retry: 'no',
  },
  DMS_RATE_LIMITED: {
    area: 'registration',
    sentence: 'The DMS asked the relay to retry later (HTTP 429); the relay obeys Retry-After.',
    retry: 'yes',
    exit: EX_UNAVAILABLE,
  },
  DMS_ERROR: {
    area: 'registration',
    sentence: 'The DMS answered registration with an unexpected HTTP status (usually 5xx); the relay retries with backoff.',
    retry: 'yes',
    exit: EX_UNAVAILABLE,
  },
  DMS_UNREACHABLE: {
    area: 'registration',
    sentence: 'The DMS cannot be reached (DNS, connect, TLS or timeout); check outbound HTTPS to dmsUrl and dmsCaFile. The relay retries with backoff.',
    retry: 'yes',
    exit: EX_UNAVAILABLE,
  },
  DMS_BAD_RESPONSE: {
    area: 'registration',
    sentence: 'The DMS answered registration or a heartbeat with a body that does not match the protocol; the message names the field.',
    retry: 'depends',
    exit: EX_UNAVAILABLE,
  },
  DMS_RESPONSE_TOO_LARGE: {
    area: 'registration',
    sentence: 'The DMS answered an API call with a body over the size the relay accepts; the answer was dropped.',
    retry: 'depends',
    exit: EX_UNAVAILABLE,
  },
  REGISTRATION_INVALIDATED: {
    area: 'registration',
    sentence: 'The relay token stopped being valid (rejected with 401 or close 4003, or the DMS asked to re-register); the relay registers again at once.',
    retry: 'yes',
  },
  RELAY_ID_CHANGED: {
    area: 'registration',
    sentence: 'The DMS did not know the relay id this relay had and assigned a new one (the relay was deleted in the DMS, or the DMS lost it); the DMS sees a new relay.',
    retry: 'no',
  },
  CLOCK_SKEW: {
    area: 'registration',
    sentence: 'This machine\'s clock disagrees with the DMS (its certificate looks "not yet valid", or serverTime is far off); fix the time source (NTP).',
    retry: 'no',
  },

  // outbound proxy (every DMS connection may go through an HTTP proxy; phones never do)
  PROXY_UNREACHABLE: {
    area: 'outbound-proxy',
    sentence:
      'The outbound proxy cannot be reached (connection refused, no route, unknown name or no answer): check outboundProxy.url or HTTPS_PROXY and that the proxy runs. The relay retries with backoff.',
    retry: 'yes',
  },
  PROXY_AUTH_FAILED: {
    area: 'outbound-proxy',
    sentence:
      'The outbound proxy refused our credentials (HTTP 407, or 401 from some proxies): wrong or missing user:password; set outboundProxy.credentialsFile, outboundProxy.credentials or user:password in the proxy URL.',
    retry: 'no',
  },
  PROXY_CONNECT_REFUSED: {
    area: 'outbound-proxy',
    sentence: "The outbound proxy refused to open a tunnel (HTTP CONNECT) to the DMS host by its policy (e.g. 403): ask the proxy's admins to allow HTTPS to that host and port.",
    retry: 'no',
  },
  DMS_UNREACHABLE_BEYOND_PROXY: {
    area: 'outbound-proxy',
    sentence:
      'The outbound proxy answered but could not reach the DMS host itself (HTTP 502/503/504 to CONNECT): the DMS or the path from the proxy to it is down. The relay retries with backoff.',
    retry: 'yes',
  },
  DMS_TLS_UNTRUSTED_BEHIND_PROXY: {
    area: 'outbound-proxy',
    sentence:
      'The DMS certificate seen through the outbound proxy is not trusted: the proxy probably re-signs TLS with a corporate CA; put that CA (PEM) in dmsCaFile (`cloud-relay doctor` names the issuer).',
    retry: 'no',
  },
  DMS_TLS_UNTRUSTED: {
    area: 'outbound-proxy',
    sentence:
      'The DMS certificate is not trusted by the system CAs nor dmsCaFile (a direct connection): a private CA, or a TLS-inspecting firewall on the path, needs its CA (PEM) in dmsCaFile.',
    retry: 'no',
  },
  PROXY_WEBSOCKET_REFUSED: {
    area: 'outbound-proxy',
    sentence:
      'The control-channel WebSocket upgrade through the outbound proxy failed while the tunnel opened: the proxy probably strips or refuses WebSocket upgrades; allow WebSocket (wss) to the DMS host on the proxy, or add the host to NO_PROXY where a direct route exists.',
    retry: 'depends',
  },

  // heartbeat
  HEARTBEAT_REFUSED: {
    area: 'heartbeat',
    sentence: 'The DMS answered a heartbeat with an HTTP error status; the next heartbeat tries again (401 makes the relay register again).',
    retry: 'yes',
  },
  HEARTBEAT_UNKNOWN_ACTION: {
    area: 'heartbeat',
    sentence: 'A heartbeat answer asked for an action this relay build does not know; it is ignored (a newer DMS than the relay).',
    retry: 'no',
  },
  ACTION_UNSUPPORTED: {
    area: 'heartbeat',
    sentence: 'The DMS asked to resync images but this relay runs without image sync; nothing was done.',
    retry: 'no',
  },
  ACTION_FAILED: {
    area: 'heartbeat',
    sentence: 'An action the DMS asked for in a heartbeat answer (such as an image resync) failed; the message says why.',
    retry: 'yes',
  },

  // control channel
  CONTROL_CONNECT_FAILED: {
    area: 'control',
    sentence: 'The control-channel WebSocket could not be opened; the relay reconnects with backoff.',
    retry: 'yes',
  },
  CONTROL_TOKEN_REJECTED: {
    area: 'control',
    sentence: 'The DMS refused the relay token on the control channel (401 or close 4003); the relay registers again.',
    retry: 'yes',
  },
  CONTROL_UPGRADE_REFUSED: {
    area: 'control',
    sentence: 'The DMS refused the control-channel WebSocket upgrade with an HTTP status; the relay reconnects with backoff.',
    retry: 'yes',
  },
  CONTROL_BAD_SUBPROTOCOL: {
    area: 'control',
    sentence: 'The DMS did not accept the relay.v1 subprotocol: the DMS and the relay speak different protocol versions.',
    retry: 'no',
  },
  CONTROL_ERROR: {
    area: 'control',
    sentence: 'The control-channel socket reported an error; the relay reconnects with backoff.',
    retry: 'yes',
  },
  CONTROL_PEER_SILENT: {
    area: 'control',
    sentence: 'The DMS did not answer a ping in time (half-open connection); the relay drops the socket and reconnects.',
    retry: 'yes',
  },
  CONTROL_ACK_TIMEOUT: {
    area: 'control',
    sentence: 'Frames sent to the DMS stayed unacknowledged too long on a live connection; the relay treats it as broken, reconnects and resends them.',
    retry: 'yes',
  },
  CONTROL_SUPERSEDED: {
    area: 'control',
    sentence:
      'The DMS closed this control connection because a newer one for the same relay arrived (close 4001); two relays sharing one data directory or relay id also cause it.',
    retry: 'yes',
  },
  CONTROL_FRAME_INVALID: {
    area: 'control',
    sentence: 'The DMS closed the control channel because a frame the relay sent is invalid (close 4008); the reason names the frame and field.',
    retry: 'no',
  },
  CONTROL_CLOSED: {
    area: 'control',
    sentence: 'The control channel closed; the relay reconnects with backoff.',
    retry: 'yes',
  },

  // frames from and to the DMS (nack reasons carry the message)
  FRAME_BINARY: {
    area: 'frames',
    sentence: 'The DMS sent a binary WebSocket frame; frames are JSON text. Nacked, nothing run.',
    retry: 'no',
  },
  FRAME_TOO_LARGE: {
    area: 'frames',
    sentence: 'A control-channel frame is over the 1 MiB limit; the socket is closed with 1009.',
    retry: 'no',
  },
  FRAME_BAD_JSON: {
    area: 'frames',
    sentence: 'A frame from the DMS is not valid JSON. Nacked, nothing run.',
    retry: 'no',
  },
  FRAME_NOT_OBJECT: {
    area: 'frames',
    sentence: 'A frame from the DMS is JSON but not an object. Nacked, nothing run.',
    retry: 'no',
  },
  FRAME_BAD_ID: {
    area: 'frames',
    sentence: 'A frame from the DMS has no usable id (a string of 1-128 characters). Nacked with ref null, nothing run.',
    retry: 'no',
  },
  FRAME_BAD_VERSION: {
    area: 'frames',
    sentence: 'A frame from the DMS carries a protocol version (v) this relay does not speak. Nacked, nothing run.',
    retry: 'no',
  },
  FRAME_UNKNOWN_TYPE: {
    area: 'frames',
    sentence: 'A frame from the DMS has a type this relay does not know. Nacked, nothing run.',
    retry: 'no',
  },
  FRAME_INVALID_FIELD: {
    area: 'frames',
    sentence: 'A field of a frame from the DMS is missing or invalid; the nack reason names the field. Nothing run.',
    retry: 'no',
  },
  FRAME_UNSUPPORTED: {
    area: 'frames',
    sentence: 'A valid frame asks for something this relay runs without (no handler for its type). Nacked.',
    retry: 'no',
  },
  FRAME_REFUSED: {
    area: 'frames',
    sentence: 'A valid frame cannot be obeyed (unknown taskId, task already executing, backlog full...); the nack reason says why.',
    retry: 'depends',
  },
  FRAME_DUPLICATE: {
    area: 'frames',
    sentence: 'A frame id arrived again; it is answered as before and not run twice.',
    retry: 'no',
  },
  FRAME_STORE_FAILED: {
    area: 'frames',
    sentence: 'A frame from the DMS could not be stored; it is not acknowledged, so the DMS resends it.',
    retry: 'yes',
  },
  FRAME_HANDLER_FAILED: {
    area: 'frames',
    sentence: 'Handling a stored frame failed unexpectedly; it stays stored and is run again at the next start.',
    retry: 'yes',
  },
  FRAME_DISPATCH_FAILED: {
    area: 'frames',
    sentence: 'An unexpected failure while dispatching a frame; the relay keeps running. Report it with the log line.',
    retry: 'depends',
  },
  FRAME_NACKED: {
    area: 'frames',
    sentence: 'The DMS refused a frame the relay sent (nack); the frame is dropped and the reason logged.',
    retry: 'no',
  },

  PHONE_CONNECTIONS_CUT: {
    area: 'phone-https',
    sentence:
      'Connections to the phone port (`port: https`) or the OpenStage DLS port (`port: dls`) were cut because they did not finish the TLS handshake (proxy.handshakeTimeoutMs) or send their request headers in time, or were refused over proxy.maxConnections (each port has its own cap); one line with counts and the busiest addresses per 10 s. Many of them mean a scanner or a slowloris-style flood; real phones are still served.',
    retry: 'no',
  },

  // certificate of the phone-facing HTTPS port
  PFX_UNREADABLE: {
    area: 'certificate',
    sentence: 'The configured PFX file cannot be read (missing, permissions); the relay serves its self-signed certificate meanwhile.',
    retry: 'no',
  },
  PFX_FILE_NOT_FOUND: {
    area: 'certificate',
    sentence: 'The PFX file given to `cloud-relay cert check`/`install` does not exist; check the path.',
    retry: 'no',
    exit: EX_NOINPUT,
  },
  PFX_FILE_UNREADABLE: {
    area: 'certificate',
    sentence: 'The PFX file given to `cloud-relay cert check`/`install` cannot be read (permissions, a directory); the message says why.',
    retry: 'no',
    exit: EX_NOINPUT,
  },
  PFX_IS_PEM: {
    area: 'certificate',
    sentence: 'The file is PEM (a certificate or key in text form), not a PFX; make a PFX with the `openssl pkcs12 -export` line the message gives.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  PFX_WRONG_PASSPHRASE: {
    area: 'certificate',
    sentence: 'The passphrase does not open the PFX file.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  PFX_CORRUPT: {
    area: 'certificate',
    sentence: 'The file is not a PFX/PKCS#12 file or is damaged; export it again.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  PFX_NO_CERTIFICATE: {
    area: 'certificate',
    sentence: 'The PFX holds no certificate.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  PFX_NO_KEY: {
    area: 'certificate',
    sentence: 'The PFX holds no private key; export it again "with the private key".',
    retry: 'no',
    exit: EX_FAILURE,
  },
  PFX_SEVERAL_KEYS: {
    area: 'certificate',
    sentence: "The PFX holds more than one private key; export only the relay's certificate with its key.",
    retry: 'no',
    exit: EX_FAILURE,
  },
  KEY_MISMATCH: {
    area: 'certificate',
    sentence: 'The private key does not belong to the certificate.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  KEY_TOO_WEAK: {
    area: 'certificate',
    sentence: 'The key is too weak: RSA under 2048 bits, or an elliptic curve other than P-256, P-384 or P-521.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  KEY_TYPE_UNSUPPORTED: {
    area: 'certificate',
    sentence: 'The key type is not supported by phones; use RSA (2048 bits or more) or EC P-256/P-384.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CHAIN_INCOMPLETE: {
    area: 'certificate',
    sentence: 'The PFX lacks an intermediate certificate phones need; export it with the whole chain.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CHAIN_ORDER: {
    area: 'certificate',
    sentence: 'The certificates in the PFX are not in chain order (leaf first, then each issuer).',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CHAIN_BROKEN: {
    area: 'certificate',
    sentence: 'A certificate in the chain is not signed by the next one.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CHAIN_CERT_EXPIRED: {
    area: 'certificate',
    sentence: 'An issuing (intermediate) certificate in the chain has expired.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CERT_SELF_SIGNED: {
    area: 'certificate',
    sentence: 'The certificate is self-signed; phones will not trust it. Use one issued by a CA the phones trust.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  EKU_NO_SERVER_AUTH: {
    area: 'certificate',
    sentence: 'The certificate has an extended key usage without serverAuth, so it cannot serve HTTPS.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  FQDN_MISMATCH: {
    area: 'certificate',
    sentence: 'The certificate does not name the FQDN phones use to reach the relay (fqdn setting).',
    retry: 'no',
    exit: EX_FAILURE,
  },
  IP_IDENTITY: {
    area: 'certificate',
    sentence: 'The certificate names IP addresses; the DMS requires DNS names only.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CERT_NOT_YET_VALID: {
    area: 'certificate',
    sentence: "The certificate's validity starts in the future (or this machine's clock is behind).",
    retry: 'no',
    exit: EX_FAILURE,
  },
  CERT_EXPIRED: {
    area: 'certificate',
    sentence: 'The certificate has expired.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CERT_INVALID: {
    area: 'certificate',
    sentence: 'A certificate was refused; the message lists every problem with its own code. The previous certificate stays in use.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CERT_UNUSABLE: {
    area: 'certificate',
    sentence: 'A certificate passed the checks but TLS cannot use it (OpenSSL refused the key or chain); the previous certificate stays.',
    retry: 'no',
    exit: EX_FAILURE,
  },
  CERT_EXPIRING: {
    area: 'certificate',
    sentence: 'The phone-facing certificate expires within 30 days (error within 7); install a new one.',
    retry: 'no',
  },

  // phone-facing HTTPS port
  BAD_REQUEST: {
    area: 'phone-https',
    sentence: 'A phone request was refused with 400: path traversal, encoded slash, NUL, absolute-form target or CONNECT.',
    retry: 'no',
  },
  CLIENT_ERROR: {
    area: 'phone-https',
    sentence: "A phone connection broke the HTTP rules before a request was read (the log line names Node's code: header overflow 431, slow headers 408, else 400).",
    retry: 'no',
  },
  PROXY_SOURCE_UNTRUSTED: {
    area: 'phone-https',
    sentence:
      'With lb.proxyProtocol on, a connection to a phone port came from an address outside lb.trustedProxies (a phone bypassing the load balancer, or the balancer missing from the list) and was closed.',
    retry: 'no',
  },
  PROXY_HEADER_MISSING: {
    area: 'phone-https',
    sentence: 'With lb.proxyProtocol on, a connection did not start with a PROXY protocol header (usually a TLS handshake: send-proxy-v2 missing on the balancer) and was closed.',
    retry: 'no',
  },
  PROXY_HEADER_INVALID: {
    area: 'phone-https',
    sentence: 'A load balancer sent a malformed or oversized PROXY protocol header; the connection was closed.',
    retry: 'no',
  },
  PROXY_HEADER_TIMEOUT: {
    area: 'phone-https',
    sentence: 'A load balancer connected but sent no complete PROXY protocol header within 3 s; the connection was closed.',
    retry: 'yes',
  },
  UPLOAD_TOO_LARGE: {
    area: 'phone-https',
    sentence: 'A phone upload is larger than proxy.maxUploadBytes; refused with 413 without reading it.',
    retry: 'no',
  },
  UPSTREAM_ERROR: {
    area: 'phone-https',
    sentence: 'The provisioning server failed without an error code; the phone got 502 (or a cut transfer mid-body).',
    retry: 'yes',
  },
  PHONE_DISCONNECTED: {
    area: 'phone-https',
    sentence: 'The phone closed its connection during a pass-through; the upstream request is abandoned (not logged as a failure).',
    retry: 'no',
  },

  // IP guard
  IP_BANNED: {
    area: 'ip-guard',
    sentence: 'An address failed authentication too often and is banned for a while (each ban doubles); `cloud-relay ip unban IP` lifts it.',
    retry: 'yes',
  },
  IP_BLACKLISTED: {
    area: 'ip-guard',
    sentence: 'An address was banned too many times and is blacklisted until an admin runs `cloud-relay ip unban IP`.',
    retry: 'no',
  },

  // firmware cache
  DOWNLOAD_GRANT_UNKNOWN: {
    area: 'cache',
    sentence:
      'A phone asked for a per-phone download URL (/relay/dl/…) that was never granted, was revoked, or whose update is over; refused with 404. OpenStage phones get such a URL with each SoftwareDeployment or FileDeployment.',
    retry: 'no',
  },
  DOWNLOAD_GRANT_EXPIRED: {
    area: 'cache',
    sentence: 'A phone used a per-phone download URL after it expired; refused with 410. Run the update again to grant a fresh one.',
    retry: 'no',
  },
  DOWNLOAD_GRANT_FOREIGN: {
    area: 'cache',
    sentence: 'A per-phone download URL was used from another address than the phone it was granted to; refused with 403 (the URL is single-purpose: one image, one phone).',
    retry: 'no',
  },
  DOWNLOAD_GRANT_NOT_CACHED: {
    area: 'cache',
    sentence:
      'The image behind a per-phone download URL is no longer held verified in the cache (evicted or dropped from the desired set); refused with 503. A grant never starts an upstream fetch.',
    retry: 'depends',
  },
  ACCESS_CHECK_FAILED: {
    area: 'cache',
    sentence: "The provisioning server could not be asked whether a phone's credentials may fetch a cached file (unreachable, timeout); the phone gets 502, nothing is served.",
    retry: 'yes',
  },
  CACHE_OBJECT_MISSING: {
    area: 'cache',
    sentence: 'A file the cache index lists is missing on disk (deleted by hand, or the cache directory was replaced); the entry is forgotten and refetched when needed.',
    retry: 'no',
  },
  CACHE_DISK_FULL: {
    area: 'cache',
    sentence: 'The disk holding the cache is full (ENOSPC/EDQUOT); only this fill fails, the phone gets 507.',
    retry: 'no',
  },
  CACHE_QUOTA: {
    area: 'cache',
    sentence: 'The object does not fit in cache.quotaBytes even after evicting unpinned objects; raise the quota. The phone gets 507.',
    retry: 'no',
  },
  CACHE_CORRUPT: {
    area: 'cache',
    sentence: 'A download does not match its expected size or sha256; it is discarded, never served.',
    retry: 'yes',
  },
  CACHE_UPSTREAM: {
    area: 'cache',
    sentence: 'The origin of a firmware file failed or refused (HTTP error, cut transfer); 5xx and cuts are retried, 4xx are not.',
    retry: 'depends',
  },
  CACHE_ABORTED: {
    area: 'cache',
    sentence: 'A fill was stopped because the relay is stopping; a resumable download continues at the next start.',
    retry: 'yes',
  },
  CACHE_IO: {
    area: 'cache',
    sentence: 'A disk error other than "full" while writing the cache; the message names it.',
    retry: 'depends',
  },

  // image sync (download agent)
  IMAGE_REJECTED: {
    area: 'images',
    sentence:
      'An image of the catalogue was not synced: a duplicate id or path, over the 40 images / 30 GB limits, or an invalid entry; reported as image.status failed with the reason.',
    retry: 'no',
  },
  CATALOGUE_UNREACHABLE: {
    area: 'images',
    sentence: 'The image catalogue cannot be fetched from the DMS; the agent retries with backoff.',
    retry: 'yes',
  },
  CATALOGUE_UNAUTHORIZED: {
    area: 'images',
    sentence: 'The DMS refused the relay token for the image catalogue (401); the relay registers again.',
    retry: 'yes',
  },
  CATALOGUE_HTTP: {
    area: 'images',
    sentence: 'The DMS answered the image catalogue with an HTTP error status; the agent retries with backoff.',
    retry: 'yes',
  },
  CATALOGUE_INVALID: {
    area: 'images',
    sentence: 'The image catalogue from the DMS is not JSON or does not match the protocol; the message names the field.',
    retry: 'no',
  },

  // calls to phones (task result reasons carry the message)
  DEVICE_TARGET_INVALID: {
    area: 'devices',
    sentence: 'A stored phone target (address, port, vendor) is invalid, so the phone is skipped; the next task or poll from the DMS replaces it.',
    retry: 'no',
  },
  CONNECT_FAILED: {
    area: 'devices',
    sentence: 'The phone cannot be reached (refused, unreachable, connect timeout); nothing was sent, so the command is retried.',
    retry: 'yes',
  },
  TLS_PIN_MISMATCH: {
    area: 'devices',
    sentence: "The phone's certificate changed since it was pinned; if the phone was replaced, `cloud-relay devices clear-pin IP`.",
    retry: 'no',
  },
  TLS_UNTRUSTED: {
    area: 'devices',
    sentence: "With devices.tlsPolicy=verify, the phone's certificate does not lead to devices.caFile (or no caFile is set).",
    retry: 'no',
  },
  TIMEOUT: {
    area: 'devices',
    sentence: 'The phone did not answer in time (devices.requestTimeoutMs); read-only commands are retried, others may have reached the phone and are not.',
    retry: 'depends',
  },
  CONNECTION_LOST: {
    area: 'devices',
    sentence: 'The connection to the phone broke before its answer; read-only commands are retried, others are not.',
    retry: 'depends',
  },
  AUTH_FAILED: {
    area: 'devices',
    sentence: 'The phone refused the credentials (401/403); fix the device password the DMS sends.',
    retry: 'no',
  },
  API_DISABLED: {
    area: 'devices',
    sentence: "The phone's REST API is switched off (set apps.restapi.enabled=1 on the phone).",
    retry: 'no',
  },
  NOT_SUPPORTED: {
    area: 'devices',
    sentence: "The phone's model or firmware has no such endpoint or feature; the result is not_applicable.",
    retry: 'no',
  },
  BUSY: {
    area: 'devices',
    sentence: 'The phone said it is busy (in a call, 4001 or 503); retried after its Retry-After or backoff.',
    retry: 'yes',
  },
  PHONE_ERROR: {
    area: 'devices',
    sentence: 'The phone answered but did not do what was asked (its status code or state says so); the message has the detail.',
    retry: 'no',
  },
  HTTP_ERROR: {
    area: 'devices',
    sentence: 'The phone answered with an unexpected HTTP status; read-only commands are retried.',
    retry: 'depends',
  },
  BAD_RESPONSE: {
    area: 'devices',
    sentence: "The phone's answer could not be parsed; read-only commands are retried.",
    retry: 'depends',
  },
  UPLOAD_FAILED: {
    area: 'devices',
    sentence: 'A file the phone produced (capture, screen) could not be received by the relay or delivered to the DMS.',
    retry: 'depends',
  },
  XML_TOO_LARGE: {
    area: 'devices',
    sentence: 'An XML document a phone sent (such as a telephony notification) is over the size limit; refused with 413.',
    retry: 'no',
  },
  XML_DTD_REFUSED: {
    area: 'devices',
    sentence: 'An XML document a phone sent declares a DOCTYPE; refused so that no entity can be declared or expanded.',
    retry: 'no',
  },
  XML_TOO_DEEP: {
    area: 'devices',
    sentence: 'An XML document a phone sent is nested deeper than allowed; refused.',
    retry: 'no',
  },
  XML_MALFORMED: {
    area: 'devices',
    sentence: "An XML document a phone sent is not well-formed, or not the expected event; refused with 400 and the parser's reason.",
    retry: 'no',
  },
  NO_CREDENTIALS: {
    area: 'devices',
    sentence:
      'A command needs a login on the phone, but its target carries no credentials and the relay has no default for that vendor (accounts.polycom.password); the device fails "no credentials" and nothing is sent. Set the default or have the DMS send credentials.',
    retry: 'no',
  },
  RATE_LIMITED: {
    area: 'devices',
    sentence:
      'The relay held back to protect the phone (OpenStage: at most one contact-me per phone per minute) and the task expires before the next one is allowed; run the command again later.',
    retry: 'yes',
  },
  DLS_LISTEN_FAILED: {
    area: 'devices',
    sentence:
      'The OpenStage DLS port (openstage.dlsListen) could not be opened, e.g. because another program uses it; the relay runs on and OpenStage commands fail until it is restarted with a free address.',
    retry: 'no',
  },
  DLS_NONCE_MISMATCH: {
    area: 'devices',
    sentence:
      'An OpenStage phone answered within an interaction with another nonce than the interaction began with; the message is refused (403) and the command fails without a retry. A second device answering for that address would do this.',
    retry: 'no',
  },
  DLS_NOT_WORKPOINT_MESSAGE: {
    area: 'devices',
    sentence: 'A post to the OpenStage DLS port is XML but not a WorkpointMessage with a Message; refused with 400.',
    retry: 'no',
  },
  DLS_BAD_MESSAGE: {
    area: 'devices',
    sentence:
      'A WorkpointMessage lacks a nonce or ReasonForContact, or carries a value outside the interface (maxItems, fragment, action, status, item name or index); refused with 400 and the reason. Also raised when the relay would have to send an item name the interface cannot carry.',
    retry: 'no',
  },
  DLS_SESSION_FOREIGN: {
    area: 'devices',
    sentence: 'An OpenStage session cookie was presented from another address than the phone of that interaction; refused with 403.',
    retry: 'no',
  },
  DLS_BODY_TOO_LARGE: {
    area: 'devices',
    sentence: 'A post to the OpenStage DLS port is over the WorkpointMessage size limit (256 KiB); refused with 413.',
    retry: 'no',
  },
  DLS_REPLY_TOO_LARGE: {
    area: 'devices',
    sentence: 'A DLSMessage the relay built for an OpenStage phone is over its size limit (64 KiB); the command fails naming the action. Send fewer values per setParams.',
    retry: 'no',
  },
  DEVICE_TLS_INSECURE: {
    area: 'devices',
    sentence: 'devices.tlsPolicy=insecure: phone certificates are not checked, so anyone on the LAN path can impersonate a phone. Logged at start.',
    retry: 'no',
  },

  // firmware rollouts
  ROLLOUT_ABORTED: {
    area: 'rollouts',
    sentence: 'A rollout stopped starting devices because more failed than its abort rule allows; devices already upgrading finish, the others end as not started.',
    retry: 'no',
  },
  ROLLOUT_STEP_FAILED: {
    area: 'rollouts',
    sentence: 'One step of a rollout failed unexpectedly; it is tried again at the next tick. Report it with the log line if it repeats.',
    retry: 'yes',
  },
} as const satisfies Record<string, ErrorSpec>;

/** A catalogued code: a typo is a type error. */
export type ErrorCode = keyof typeof errorCatalogue;

/** Names a subset of catalogued codes; a code missing from the catalogue fails to compile. */
export type Catalogued<T extends ErrorCode> = T;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorCatalogue, code);
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return errorCatalogue[code];
}
