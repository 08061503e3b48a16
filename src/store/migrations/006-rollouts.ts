export const version = 6;
export const name = 'rollouts';
// A rollout and one row per (rollout, device). The device row's phase is the durable truth the
// rollout runner works from: 'running' is written before the phone is told to upgrade, so after
// a crash that device is verified (its version read), never triggered a second time.
// retry_at lets a phone in a call be skipped cheaply until it may be idle long enough.
export const sql = `
CREATE TABLE rollouts (
  rollout_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  image_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'paused', 'aborted', 'cancelled', 'done')),
  reason TEXT,
  submitted_at INTEGER NOT NULL,
  last_start_at INTEGER,
  finished_at INTEGER
) STRICT;
CREATE INDEX rollouts_state ON rollouts (state);
CREATE TABLE rollout_devices (
  rollout_id TEXT NOT NULL REFERENCES rollouts (rollout_id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  device_id TEXT NOT NULL,
  target TEXT NOT NULL,
  phase TEXT NOT NULL CHECK (phase IN ('pending', 'waiting_idle', 'running', 'upgraded', 'already_current', 'failed', 'not_applicable', 'not_started')),
  retry_at INTEGER,
  from_version TEXT,
  to_version TEXT,
  reason TEXT,
  started_at INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (rollout_id, seq),
  UNIQUE (rollout_id, device_id)
) STRICT;
CREATE INDEX rollout_devices_next ON rollout_devices (rollout_id, phase, retry_at, seq);
`;
