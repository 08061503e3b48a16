import type { CachedImage, FileType, FirmwareResult } from '../driver.js';
import type { DlsItem, OutItem } from './messages.js';

/**
 * What the relay sends an OpenStage phone to make it fetch software or a file over HTTPS, and
 * how it reads the phone's report. Item names as the open-source provisioning services send
 * them (device-protocols §4): the source is `file-https-base-url` (the file's full URL),
 * `file-type` APP for software; results come back in a `status` contact as
 * `file-deployment-status` ok|failed.
 */

/** FileDeployment types as the interface names them: LOGO, RINGTONE, SCREENSAVER, PIC, LDAP, MOH. */
export const dlsFileType = (t: FileType): string => t.toUpperCase();

export function softwareItems(url: string, image: CachedImage): OutItem[] {
  return [
    { name: 'file-https-base-url', value: url },
    { name: 'file-type', value: 'APP' },
    { name: 'file-priority', value: 'normal' },
    { name: 'file-sw-version', value: image.version },
  ];
}

export function fileItems(url: string, fileType: FileType): OutItem[] {
  return [
    { name: 'file-https-base-url', value: url },
    { name: 'file-type', value: dlsFileType(fileType) },
    { name: 'file-priority', value: 'normal' },
  ];
}

/** The phone's deployment report: the last `file-deployment-status` it sends (the list is indexed). */
export function deploymentStatus(items: readonly DlsItem[]): 'ok' | 'failed' | undefined {
  const last = items
    .filter((i) => i.name === 'file-deployment-status' && i.status !== 'failed')
    .at(-1)
    ?.value.trim()
    .toLowerCase();
  return last === 'ok' || last === 'failed' ? last : undefined;
}

/** The result once the phone came back (or did not) after a SoftwareDeployment. */
export function softwareResult(o: {
  readonly image: CachedImage;
  readonly fromVersion: string;
  readonly toVersion: string | undefined;
  readonly matches: boolean;
  readonly fetched: boolean;
  readonly waited: boolean;
  readonly waitSeconds: number;
}): FirmwareResult {
  const base = { fromVersion: o.fromVersion, toVersion: o.toVersion, fetchedFromCache: o.fetched };
  if (o.toVersion === undefined)
    return {
      outcome: 'failure',
      ...base,
      reason: `the phone did not come back within ${o.waitSeconds} s of its software deployment${o.fetched ? ' (it fetched the image from the relay)' : ' (it did not fetch the image from the relay)'}`,
    };
  if (o.matches)
    return {
      outcome: 'success',
      ...base,
      reason: `${o.waited ? 'deployed after its call ended; ' : ''}${o.fetched ? 'upgraded from the relay cache' : 'upgraded (the image was not fetched through this relay)'}`,
    };
  return {
    outcome: 'failure',
    ...base,
    reason: `the phone came back with ${o.toVersion}, not ${o.image.version}${o.fetched ? ' (it fetched the image from the relay)' : ' (it did not fetch the image from this relay)'}`,
  };
}
