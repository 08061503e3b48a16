export const version = 6;
export const name = 'device-online-changed';
// When each phone last went online or offline, so the status page can list the most recently
// offline ones from an index instead of reading every device's status. Existing rows start
// unknown (NULL) and get a time at their next change.
export const sql = `
ALTER TABLE devices ADD COLUMN online_changed_at INTEGER;
CREATE INDEX devices_online_changed ON devices (online, online_changed_at);
`;
