import { z } from 'zod';
import { LOG_LEVELS } from '../log.js';
import { parseListen, type ListenAddress } from './listen.js';
import { parseCidr } from './cidr.js';
import { timeouts } from '../core/timeouts.js';
import { parseNoProxy } from '../dms/no-proxy.js';
import type { ProxyEnvironment } from '../dms/outbound-proxy.js';

/**
 * The one description of every setting. The file, the environment (`CLOUD_RELAY_` + the
 * path in UPPER_SNAKE, e.g. `ipGuard.banSeconds` → `CLOUD_RELAY_IP_GUARD_BAN_SECONDS`), the
 * README table and `cloud-relay config` are all derived from it, so they cannot drift.
 * Values from the environment are strings: numbers are coerced, lists are comma-separated.
 */

const listen = z.string().transform((s, ctx): ListenAddress => {
  const r = parseListen(s);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return r;
});

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const bool = z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean());
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : v,
  z.array(z.string().min(1)),
);
const cidrList = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : v,
  z.array(
    z.string().superRefine((s, ctx) => {
      const r = parseCidr(s);
      if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
    }),
  ),
);
/** Drain delay when lb.drainDelaySeconds is unset: HAProxy's default checks (inter 2 s × fall 3) plus slack. */
export const BALANCED_DRAIN_DELAY_SECONDS = 10;
// No user:password@ in it: the URL is logged and shown by `cloud-relay config`, and the relay authenticates with its token.
const httpsUrl = z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).refine((u) => !/^https:\/\/[^/?#]*@/i.test(u), 'must not carry a user name or password');

export const configSchema = z.object({
  dmsUrl: httpsUrl.describe('Base URL of the DMS API (https)'),
  dmsCaFile: z.string().optional().describe('Extra CA bundle (PEM) trusted for every DMS host, on top of the system CAs'),
  tenantId: z.string().min(1).max(128).optional().describe('Tenant ID shown in the DMS (or stored by `cloud-relay register`)'),
  pin: z.string().min(1).max(128).optional().describe('Relay registration PIN from the DMS (secret; or stored by `cloud-relay register`)'),
  pinFile: z.string().optional().describe('File holding the PIN (read at start-up; wins over nothing, loses to pin)'),
  fqdn: z
    .string()
    .regex(/^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, 'must be a DNS name, e.g. relay.example.com')
    .describe('Name phones use to reach the relay; must be in the certificate'),
  dataDir: z.string().min(1).default('/var/lib/cloud-relay').describe('Database, certificates and state (created 0700)'),
  cacheDir: z.string().optional().describe('Firmware cache directory (default: <dataDir>/cache)'),
  secretsKeyFile: z
    .string()
    .optional()
    .describe('Key (0600) sealing device passwords in the database; kept outside it (default: <dataDir>-keys/secrets.key; a systemd credential secrets-key wins)'),
  httpsListen: listen.prefault('0.0.0.0:443').describe('Phone-facing HTTPS listen address'),
  adminListen: listen.prefault('127.0.0.1:9090').describe('Admin HTTP (health, readiness, metrics) listen address'),
  logLevel: z.enum(LOG_LEVELS).default('info').describe('fatal, error, warn, info, debug, trace or silent'),
  shutdownGraceSeconds: int(0, 600)
    .default(timeouts.shutdownGrace.ms / 1000)
    .describe('How long SIGTERM waits for in-flight work'),

  pfxFile: z.string().optional().describe('PFX/PKCS#12 with the phone-facing certificate chain and key'),
  pfxPassphrase: z.string().optional().describe('Passphrase of the PFX (secret)'),
  pfxPassphraseFile: z.string().optional().describe('File holding the PFX passphrase'),

  lb: z
    .object({
      proxyProtocol: bool
        .default(false)
        .describe('Phone ports require a PROXY protocol header (v1 or v2, e.g. HAProxy send-proxy-v2) on every connection, from lb.trustedProxies only'),
      trustedProxies: cidrList.default([]).describe('Load balancer addresses (IPs or CIDR ranges) allowed to connect to the phone ports when lb.proxyProtocol is on'),
      drainDelaySeconds: int(0, 600)
        .optional()
        .describe(
          `After SIGTERM, phone ports keep serving this long while /readyz answers 503, so a balancer stops sending phones first (unset: ${BALANCED_DRAIN_DELAY_SECONDS} with lb.proxyProtocol, else 0)`,
        ),
    })
    .superRefine((lb, ctx) => {
      if (lb.proxyProtocol && lb.trustedProxies.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['trustedProxies'],
          message: "must list the load balancers' addresses when lb.proxyProtocol is on (every connection would be refused)",
        });
      }
    })
    .transform((lb) => ({ ...lb, drainDelaySeconds: lb.drainDelaySeconds ?? (lb.proxyProtocol ? BALANCED_DRAIN_DELAY_SECONDS : 0) }))
    .prefault({}),

  outboundProxy: z
    .object({
      url: z
        .string()
        .min(1)
        .optional()
        .describe(
          'HTTP proxy for every DMS connection (API, control channel, pass-through, images, uploads), e.g. http://proxy.corp:3128 (user:password@ allowed, shown redacted); wins over HTTPS_PROXY/HTTP_PROXY. Phones never use it',
        ),
      credentials: z
        .string()
        .regex(/^[^:]+:/, 'must be user:password')
        .optional()
        .describe('Proxy Basic credentials as user:password (secret; or outboundProxy.credentialsFile); wins over user:password in the URL'),
      credentialsFile: z.string().optional().describe('File holding the proxy credentials (user:password), read at start-up'),
      noProxy: z
        .preprocess(
          (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter((s) => s !== '') : v),
          z.array(z.string()).superRefine((entries, ctx) => {
            for (const p of parseNoProxy(entries).problems) ctx.addIssue({ code: 'custom', message: p });
          }),
        )
        .optional()
        .describe('Hosts reached directly, as NO_PROXY: host suffixes, *, host:port, IP addresses and CIDR ranges (IPv4, IPv6); wins over NO_PROXY/no_proxy'),
    })
    .prefault({}),

  proxy: z
    .object({
      maxUploadBytes: int(1, 1024 ** 4)
        .default(50 * 1024 * 1024)
        .describe('Largest upload a phone may PUT/POST'),
      upstreamTimeoutMs: int(100, 600_000).default(timeouts.provisioningUpstream.ms).describe('Provisioning upstream headers/body timeout'),
      upstreamConnections: int(1, 4096).default(128).describe('Keep-alive connections to the provisioning server'),
      headersTimeoutMs: int(100, 600_000).default(timeouts.phoneHeaders.ms).describe('Phone must send its request headers within this'),
      requestTimeoutMs: int(100, 3_600_000).default(timeouts.phoneRequest.ms).describe('Phone must finish its request (incl. upload) within this'),
      handshakeTimeoutMs: int(100, 120_000)
        .default(timeouts.phoneHandshake.ms)
        .describe('A phone-port (and OpenStage DLS-port) connection must finish its TLS handshake within this'),
      maxConnections: int(16, 1_000_000)
        .default(20_000)
        .describe('Open phone-port connections at most (the OpenStage DLS port has a cap of its own of the same size); further ones are refused until some close'),
    })
    .prefault({}),

  ipGuard: z
    .object({
      maxFailures: int(1, 100_000).default(10).describe('Failures within the window that ban an IP'),
      windowSeconds: int(1, 86_400).default(300).describe('Window over which failures are counted'),
      banSeconds: int(1, 30 * 86_400)
        .default(900)
        .describe('First ban length; doubles on each repeat'),
      blacklistAfterBans: int(1, 1000).default(5).describe('Bans after which an IP is blacklisted until an admin lifts it'),
    })
    .prefault({}),

  cache: z
    .object({
      quotaBytes: int(1, 2 ** 50)
        .default(40 * 1024 ** 3)
        .describe('Disk budget of the firmware cache'),
      authTtlSeconds: int(0, 86_400).default(300).describe('How long a positive credential check for firmware is remembered'),
      firmwarePatterns: list.default(['**/*.ld', '/swupdate/**', '**/*sip*.zip', '/firmware/**']).describe('Paths served from the cache (glob: * within a segment, ** across)'),
      periodicSyncMinutes: int(1, 7 * 24 * 60)
        .default(60)
        .describe('Periodic re-check of the desired image set'),
    })
    .prefault({}),

  devices: z
    .object({
      tlsPolicy: z.enum(['pin-on-first-use', 'verify', 'insecure']).default('pin-on-first-use').describe('How phone certificates are checked'),
      caFile: z.string().optional().describe('CA bundle for tlsPolicy=verify'),
      concurrency: int(1, 4096).default(64).describe('Commands in flight across all phones'),
      backlog: int(1, 1_000_000).default(100_000).describe('Queued device commands before new tasks are refused'),
      requestTimeoutMs: int(100, 300_000).default(timeouts.deviceRequest.ms).describe('Timeout of one call to a phone'),
      pollIntervalSeconds: int(60, 7 * 86_400)
        .default(7200)
        .describe('Status poll period, spread evenly over the interval'),
      upgradePollMs: int(100, 60_000).default(5_000).describe('How often a phone upgrading its firmware is asked whether it is back'),
      upgradeTimeoutSeconds: int(10, 7_200).default(1_200).describe('How long a phone upgrading its firmware may stay away before the upgrade fails'),
      rolloutIdleRecheckSeconds: int(1, 3_600)
        .default(timeouts.rolloutIdleRecheck.ms / 1000)
        .describe('How long a rollout waits before asking again whether a phone found in a call is idle'),
    })
    .prefault({}),

  // Relay-wide accounts a target without credentials inherits (PROTOCOL §3); a target's own win.
  // OpenStage phones are driven through the DLS interface, which needs no login on the phone.
  accounts: z
    .object({
      polycom: z
        .object({
          user: z.string().min(1).max(256).optional().describe('Default login of Polycom phones for targets without credentials (default user Polycom)'),
          password: z.string().min(1).max(1024).optional().describe('Default password of Polycom phones for targets without credentials (secret)'),
          passwordFile: z.string().optional().describe('File holding accounts.polycom.password'),
        })
        .superRefine((a, ctx) => {
          if (a.user !== undefined && a.password === undefined)
            ctx.addIssue({ code: 'custom', path: ['password'], message: 'required when accounts.polycom.user is set (or set accounts.polycom.passwordFile)' });
        })
        .prefault({}),
    })
    .prefault({}),

  openstage: z
    .object({
      dlsListen: listen
        .prefault('0.0.0.0:18443')
        .describe('OpenStage provisioning-service (DLS) HTTPS listen address: phones sent a contact-me call back here (same certificate as the phone port)'),
      dlsPaths: list
        .refine((a) => a.length > 0 && a.every((x) => x.startsWith('/')), 'at least one path, each starting with /')
        .default(['/DeploymentService/LoginService'])
        .describe('Paths OpenStage phones post their WorkpointMessages to'),
      contactMeIntervalSeconds: int(5, 3600)
        .default(timeouts.openstageContactMe.ms / 1000)
        .describe('At most one contact-me per OpenStage phone within this many seconds, across restarts (their web server is known to fall over under more than one a minute)'),
    })
    .prefault({}),
});

export type RelayConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;

/** What the daemon runs with: secrets resolved, derived paths filled in. */
export interface RelayConfig extends Omit<ParsedConfig, 'pinFile' | 'pfxPassphraseFile' | 'cacheDir'> {
  readonly cacheDir: string;
  /**
   * The standard proxy variables (https_proxy, NO_PROXY, …) of the environment the config was
   * loaded from; `outboundProxy` settings win over them. Absent: none (a config built in code).
   */
  readonly proxyEnvironment?: ProxyEnvironment;
}

/** Setting paths whose values never leave the process. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['pin', 'pfxPassphrase', 'accounts.polycom.password', 'outboundProxy.credentials']);

/** Settings holding a URL whose password (user:password@) never leaves the process. */
export const SECRET_URL_KEYS: ReadonlySet<string> = new Set(['outboundProxy.url']);

/** Settings whose value may come from a file instead (`pin` ← `pinFile`). */
export const SECRET_FILE_KEYS: Readonly<Record<string, string>> = {
  pinFile: 'pin',
  pfxPassphraseFile: 'pfxPassphrase',
  'accounts.polycom.passwordFile': 'accounts.polycom.password',
  'outboundProxy.credentialsFile': 'outboundProxy.credentials',
};
