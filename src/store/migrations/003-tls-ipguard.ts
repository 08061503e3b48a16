// Reserved for the tls-ipguard work; filled in by the issue that builds it.
export const version = 3;
export const name = 'tls-ipguard';
export const sql = '';
