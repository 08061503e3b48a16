import type { CommandKind } from '../commands.js';
import type { VendorModule } from '../vendor.js';
import { PolycomDriver } from './driver.js';
import { telephonyNotificationRoute } from './notifications.js';

/** Polycom UC Software phones: REST API for commands, telephony notifications pushed to the relay. */
export const polycom: VendorModule = {
  vendor: 'polycom',
  label: 'Polycom',
  supports: new Set<CommandKind>([
    'dial',
    'reboot',
    'reset',
    'getParams',
    'setParams',
    'getConfig',
    'screenCapture',
    'pcapStart',
    'pcapStop',
    'pcapCancel',
    'adPassword',
    'checkSync',
    'status',
    'updateFirmware',
  ]),
  create: (env) => ({
    driver: new PolycomDriver({
      tlsPolicy: env.tlsPolicy,
      caFile: env.caFile,
      requestTimeoutMs: env.requestTimeoutMs,
      pins: env.pins,
      account: env.accounts?.polycom,
      ...(env.dialConfirm ? { dialConfirm: env.dialConfirm } : {}),
      firmwareServed: env.firmwareServed,
      firmwareWait: env.firmwareWait,
    }),
    routes: [telephonyNotificationRoute(env.phoneEvents, env.log.child({ part: 'telnotify' }))],
  }),
};
