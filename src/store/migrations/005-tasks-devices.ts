// Reserved for the tasks-devices work; filled in by the issue that builds it.
export const version = 5;
export const name = 'tasks-devices';
export const sql = '';
