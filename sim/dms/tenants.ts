/**
 * Tenants and their relay PINs. A PIN reset keeps the old PIN valid for 24 h beside the
 * new one (PROTOCOL §1), measured on the simulator's clock.
 */
export const PIN_OVERLAP_MS = 24 * 60 * 60 * 1000;

interface TenantPins {
  current: string;
  previous?: { pin: string; validUntil: number };
}

export class TenantBook {
  private readonly tenants = new Map<string, TenantPins>();

  constructor(private readonly now: () => number) {}

  set(tenantId: string, pin: string): void {
    this.tenants.set(tenantId, { current: pin });
  }

  has(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  resetPin(tenantId: string, newPin: string): void {
    const t = this.tenants.get(tenantId);
    if (!t) {
      this.set(tenantId, newPin);
      return;
    }
    t.previous = { pin: t.current, validUntil: this.now() + PIN_OVERLAP_MS };
    t.current = newPin;
  }

  accepts(tenantId: string, pin: string): boolean {
    const t = this.tenants.get(tenantId);
    if (!t) return false;
    if (pin === t.current) return true;
    return t.previous !== undefined && pin === t.previous.pin && this.now() < t.previous.validUntil;
  }

  list(): { tenantId: string; oldPinValidUntil: string | null }[] {
    return [...this.tenants].map(([tenantId, t]) => ({
      tenantId,
      oldPinValidUntil: t.previous && this.now() < t.previous.validUntil ? new Date(t.previous.validUntil).toISOString() : null,
    }));
  }
}
