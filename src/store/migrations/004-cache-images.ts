// Reserved for the cache-images work; filled in by the issue that builds it.
export const version = 4;
export const name = 'cache-images';
export const sql = '';
