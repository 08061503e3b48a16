import type { CallHistory } from '../rollouts/pacing.js';

/**
 * When each phone was last seen in a call, from every status the monitor records (polls and
 * the phones' own notifications). In memory: after a restart a phone counts as idle until a
 * poll or a notification says otherwise — a firmware update still never cuts a call, since
 * the phones defer a safe reboot until the call ends.
 */
export class CallTracker {
  private readonly calls = new Map<string, { inCall: boolean; lastCallAt: number }>();

  observe(deviceId: string, callState: 'idle' | 'in_call' | undefined, online: boolean, now: number): void {
    const prev = this.calls.get(deviceId);
    if (callState === 'in_call') this.calls.set(deviceId, { inCall: true, lastCallAt: now });
    else if (prev?.inCall && (callState === 'idle' || !online)) this.calls.set(deviceId, { inCall: false, lastCallAt: now });
  }

  history(deviceId: string): CallHistory {
    const c = this.calls.get(deviceId);
    return c ? { inCall: c.inCall, lastCallAt: c.lastCallAt } : { inCall: false, lastCallAt: null };
  }
}
