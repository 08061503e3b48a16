// Reserved for the control work; filled in by the issue that builds it.
export const version = 2;
export const name = 'control';
export const sql = '';
