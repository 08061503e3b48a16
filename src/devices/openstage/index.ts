import { timeouts } from '../../core/timeouts.js';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../../errors.js';
import type { CommandKind } from '../commands.js';
import type { VendorModule } from '../vendor.js';
import { DlsServer } from './dls-server.js';
import { OpenStageDriver } from './driver.js';
import { Interactions } from './interactions.js';
import { CONTACT_ME_INTERVAL_MS, MemoryContactMeLedger } from './contact-me.js';

/**
 * Unify OpenStage phones through the provisioning-service (DLS/WPI) interface. The relay is
 * the phones' DLS: it listens on a port of its own (`openstage.dlsListen`) and drives each
 * command as an interaction the phone opens after a contact-me.
 */
export const openstage: VendorModule = {
  vendor: 'openstage',
  label: 'OpenStage',
  supports: new Set<CommandKind>(['status', 'getParams', 'setParams', 'getConfig', 'reboot', 'checkSync', 'updateFirmware', 'deployFile']),
  create: (env) => {
    const log = env.log.child({ part: 'openstage' });
    const now = env.now ?? Date.now;
    const interactions = new Interactions({ stepTimeoutMs: env.requestTimeoutMs, sink: env.phoneEvents, log, now });
    const server = env.dls
      ? new DlsServer({
          listen: env.dls.listen,
          handshakeTimeoutMs: env.dls.handshakeTimeoutMs,
          maxConnections: env.dls.maxConnections,
          paths: env.dls.paths,
          tls: env.dls.tls,
          interactions,
          sink: env.phoneEvents,
          requestTimeoutMs: Math.max(env.requestTimeoutMs, timeouts.openstageDlsRequest.ms),
          log,
        })
      : undefined;
    return {
      driver: new OpenStageDriver({
        interactions,
        server,
        requestTimeoutMs: env.requestTimeoutMs,
        sink: env.phoneEvents,
        log,
        now,
        firmwareWait: env.firmwareWait ?? { pollMs: timeouts.deviceRequest.ms, timeoutMs: timeouts.openstageBusyWait.ms },
        grantDownload: env.grantDownload,
        contactMes: env.contactMes ?? new MemoryContactMeLedger(),
        contactMeIntervalMs: env.dls?.contactMeIntervalMs ?? CONTACT_ME_INTERVAL_MS,
      }),
      routes: [],
      ...(server
        ? {
            // A DLS port that cannot be bound must not take the Polycom side down with it:
            // the failure is logged with its code and OpenStage commands fail saying so.
            start: async (): Promise<Record<string, AddressInfo>> => {
              try {
                return { dls: await server.listen() };
              } catch (err) {
                log.error(
                  { code: 'DLS_LISTEN_FAILED', listen: env.dls?.listen, err: errorMessage(err) },
                  'OpenStage DLS port could not be opened; OpenStage commands will fail until the relay is restarted with a free openstage.dlsListen',
                );
                return {};
              }
            },
          }
        : {}),
    };
  },
};
