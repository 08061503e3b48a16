// Control channel: the durable relay → DMS outbox and the record of DMS → relay frames.
export const version = 2;
export const name = 'control';
export const sql = `
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  frame TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE inbound_frames (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  frame TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'refused')),
  reason TEXT,
  received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX inbound_frames_pending ON inbound_frames (state) WHERE state = 'pending';
CREATE INDEX inbound_frames_received ON inbound_frames (received_at);
`;
