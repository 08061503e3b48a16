export const version = 5;
export const name = 'tasks-devices';
// Tasks and their per-device rows are kept until the DMS deletes the task, so a restart
// can finish what was started and never run a device twice. Devices are every phone the
// DMS has named in a task: the monitor polls them. Pins are phone certificate fingerprints.
export const sql = `
CREATE TABLE tasks (
  task_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  command TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('scheduled', 'executing', 'done')),
  execute_at INTEGER,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
) STRICT;
CREATE INDEX tasks_state ON tasks (state, execute_at);
CREATE TABLE task_devices (
  task_id TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  device_id TEXT NOT NULL,
  target TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'done')),
  outcome TEXT,
  reason TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (task_id, seq)
) STRICT;
CREATE INDEX task_devices_pending ON task_devices (task_id, state, seq);
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY,
  mac TEXT NOT NULL,
  ip TEXT NOT NULL,
  target TEXT NOT NULL,
  status TEXT,
  online INTEGER,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_ip ON devices (ip);
CREATE INDEX devices_mac ON devices (mac);
CREATE TABLE device_pins (
  origin TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  pinned_at INTEGER NOT NULL
) STRICT;
`;
