import type { AddressInfo } from 'node:net';
import type { PhoneRoute } from '../core/phone-route.js';
import type { CommandKind } from './commands.js';
import type { Driver } from './driver.js';
import type { DriverEnv, VendorInstance, VendorModule } from './vendor.js';
import { polycom } from './polycom/index.js';
import { openstage } from './openstage/index.js';

/** The vendors this relay drives: adding one is one line here. */
export const VENDORS: readonly VendorModule[] = [polycom, openstage];

export type DriverChoice = { ok: true; driver: Driver } | { ok: false; reason: string };

/**
 * Drivers by vendor, built once. Decides before anything is sent whether a command can run
 * on a target at all: an unknown vendor or a kind its driver does not support is
 * not_applicable with a reason naming the vendor.
 */
export class DriverRegistry {
  private readonly byVendor = new Map<string, { module: VendorModule; instance: VendorInstance }>();

  constructor(env: DriverEnv, modules: readonly VendorModule[] = VENDORS) {
    for (const m of modules) this.byVendor.set(m.vendor, { module: m, instance: m.create(env) });
  }

  choose(vendor: string, kind: CommandKind): DriverChoice {
    const v = this.byVendor.get(vendor);
    if (!v) return { ok: false, reason: `${vendor} phones are not supported by this relay yet` };
    if (!v.module.supports.has(kind)) return { ok: false, reason: `${kind} is not supported on ${v.module.label} phones by this relay` };
    return { ok: true, driver: v.instance.driver };
  }

  /** The driver that can read a vendor's status, for the monitor; undefined when none can. */
  statusDriver(vendor: string): Driver | undefined {
    const c = this.choose(vendor, 'status');
    return c.ok ? c.driver : undefined;
  }

  /** Every vendor's phone-facing routes, for the phone HTTPS server. */
  routes(): PhoneRoute[] {
    return [...this.byVendor.values()].flatMap((v) => v.instance.routes);
  }

  /** Opens the listeners vendors have of their own (the OpenStage DLS port); returns them by name. */
  async start(): Promise<Record<string, AddressInfo>> {
    const out: Record<string, AddressInfo> = {};
    for (const v of this.byVendor.values()) Object.assign(out, await v.instance.start?.());
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.byVendor.values()].map((v) => v.instance.driver.close()));
  }
}
