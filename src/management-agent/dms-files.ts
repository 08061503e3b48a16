import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../core/undici.js';
import { DeviceError } from '../devices/errors.js';
import { retryPolicyDelay } from '../core/backoff.js';
import type { DmsClient } from '../dms/client.js';
import { timeouts } from '../core/timeouts.js';

export interface UploadedFile {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

export const MAX_FILE_BYTES = 100 * 1024 * 1024;

/** The DMS answered the upload with a status; a 4xx is its final word, so it is not resent. */
class DmsUploadRefused extends DeviceError {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super('UPLOAD_FAILED', message, { reached: true });
  }
}

/**
 * Uploads files to the DMS (PROTOCOL §4): PUT {dmsUrl}/api/v1/relays/{relayId}/files/{name}
 * with the bearer token, through the DMS client's bulk lane. The file is streamed from disk,
 * so a retry resends the same bytes.
 */
export class DmsFiles {
  constructor(private readonly opts: { dms: DmsClient; timeoutMs?: number; attempts?: number; retryDelayMs?: number }) {}

  async upload(path: string, name: string, contentType: string): Promise<UploadedFile> {
    const { size } = await stat(path);
    if (size > MAX_FILE_BYTES) throw new DeviceError('UPLOAD_FAILED', `${name} is ${size} bytes, over the DMS limit of 100 MB`, { reached: true });
    const attempts = this.opts.attempts ?? 3;
    let last: unknown;
    for (let i = 1; i <= attempts; i++) {
      try {
        return await this.once(path, name, size, contentType);
      } catch (err) {
        last = err;
        // Decided on the status, not the message text: the DMS's answer body is part of the message.
        if (err instanceof DmsUploadRefused && err.statusCode >= 400 && err.statusCode < 500) {
          if (err.statusCode === 401) this.opts.dms.tokenRejected(`a file upload was refused (401)`);
          break;
        }
        if (i < attempts) await sleep(retryPolicyDelay({ attempts, baseDelayMs: this.opts.retryDelayMs ?? timeouts.dmsUploadRetry.ms, maxDelayMs: 60_000 }, i, 'equal'));
      }
    }
    throw last instanceof DeviceError
      ? last
      : new DeviceError('UPLOAD_FAILED', `upload of ${name} to the DMS failed: ${last instanceof Error ? last.message : String(last)}`, { reached: true, cause: last });
  }

  private async once(path: string, name: string, size: number, contentType: string): Promise<UploadedFile> {
    const reg = this.opts.dms.registration();
    if (!reg) throw new DeviceError('UPLOAD_FAILED', `cannot upload ${name}: the relay is not registered with the DMS`, { reached: true });
    const res = await request(this.opts.dms.relayUrl(reg.relayId, 'files', name), {
      method: 'PUT',
      dispatcher: this.opts.dms.bulk,
      headers: { authorization: `Bearer ${reg.token}`, 'content-type': contentType, 'content-length': String(size) },
      body: createReadStream(path),
      headersTimeout: this.opts.timeoutMs ?? timeouts.dmsUpload.ms,
      bodyTimeout: this.opts.timeoutMs ?? timeouts.dmsUpload.ms,
    });
    const text = await res.body.text();
    if (res.statusCode !== 201 && res.statusCode !== 200) throw new DmsUploadRefused(res.statusCode, `upload of ${name} to the DMS: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    try {
      const body = JSON.parse(text) as Partial<UploadedFile>;
      return { name: String(body.name ?? name), size: Number(body.size ?? size), sha256: String(body.sha256 ?? '') };
    } catch {
      throw new DeviceError('UPLOAD_FAILED', `upload of ${name}: the DMS answer is not JSON`, { reached: true });
    }
  }

  /** The connections belong to the DMS client, which closes them. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
