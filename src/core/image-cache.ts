/** What the download agent needs of the cache; the composition root adapts the cache to it. */
export interface ImageFillProgress {
  readonly written: number;
  readonly done: Promise<void>;
  on(event: 'progress', listener: () => void): unknown;
  off(event: 'progress', listener: () => void): unknown;
}

export interface ImageCachePort {
  /** The verified object is in the cache. */
  has(sha256: string): boolean;
  /** The running fill for the image (single flight with phone requests), or undefined when already complete. */
  fill(image: { readonly sha256: string; readonly size: number; readonly url: string }): ImageFillProgress | undefined;
}
