export const version = 7;
export const name = 'device-summary-columns';
// The status page counts phones per model and firmware and lists the most recently offline
// ones. Both come from plain indexed columns, kept by the repository's writes, instead of
// parsing every device's JSON on each page load (50,000 phones). online_changed_at is when
// `online` last flipped; existing rows start unknown (NULL) and get a time at their next change.
export const sql = `
ALTER TABLE devices ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN firmware TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN online_changed_at INTEGER;
UPDATE devices SET model = COALESCE(json_extract(target, '$.model'), ''), firmware = COALESCE(json_extract(status, '$.firmware'), '');
CREATE INDEX devices_model_firmware ON devices (model, firmware, online);
CREATE INDEX devices_online_changed ON devices (online, online_changed_at);
`;
