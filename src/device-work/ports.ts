/**
 * What device work needs from outside the wing and does not own. Files a phone produces
 * (captures, screenshots, large configs) leave through an uploader handed in by the wiring,
 * so device work never talks to the DMS itself.
 */

/** What the receiver stored; a task.result names it. */
export interface UploadedFile {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

export interface FileUploader {
  /** Sends the file at `path` under `name`; throws a DeviceError (UPLOAD_FAILED) when it cannot. */
  upload(path: string, name: string, contentType: string): Promise<UploadedFile>;
  close(): Promise<void>;
}
