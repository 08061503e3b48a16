import { execFile } from 'node:child_process';
import type { Logger } from './log.js';
import { errorMessage } from './errors.js';
import { timeouts } from './core/timeouts.js';

/**
 * The systemd readiness handshake (Type=notify). Node cannot open the AF_UNIX datagram
 * socket sd_notify(3) needs, so the `systemd-notify` helper sends it; without --no-block it
 * waits on a barrier until the manager has read the message, which closes the race where
 * a helper exits before systemd can attribute its message to the service (the unit sets
 * NotifyAccess=all so the helper is admitted). Outside systemd (no NOTIFY_SOCKET: a
 * container, a terminal) this does nothing.
 */
export function notifySystemd(state: 'ready' | 'stopping', log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  const args = state === 'ready' ? ['--ready', '--status=serving'] : ['STOPPING=1', '--status=draining'];
  return new Promise((resolve) => {
    execFile('systemd-notify', args, { env, timeout: timeouts.sdNotify.ms }, (err, _stdout, stderr) => {
      if (err) {
        log.warn({ code: 'SYSTEMD_NOTIFY_FAILED', state, err: errorMessage(err), stderr: stderr.trim() }, 'could not notify systemd (is systemd-notify installed?)');
        resolve(false);
        return;
      }
      log.debug({ state }, 'notified systemd');
      resolve(true);
    });
  });
}
