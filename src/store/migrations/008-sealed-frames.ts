// Inbound frames are kept for the record with their secrets redacted; the full frame is
// kept sealed (AES-256-GCM, key outside the database) only while it waits for its handler.
export const version = 8;
export const name = 'sealed-frames';
export const sql = `
ALTER TABLE inbound_frames ADD COLUMN sealed TEXT;
`;
