// Phone-facing HTTPS: per-IP guard state (certificates live as files in <dataDir>/tls).
export const version = 3;
export const name = 'tls-ipguard';
export const sql = `
CREATE TABLE ip_guard (
  ip TEXT PRIMARY KEY,
  whitelisted_at INTEGER,
  failures INTEGER NOT NULL DEFAULT 0,
  window_started_at INTEGER,
  last_failure_at INTEGER,
  last_failure TEXT,
  banned_until INTEGER,
  ban_count INTEGER NOT NULL DEFAULT 0,
  blacklisted_at INTEGER
) STRICT;
CREATE INDEX ip_guard_blocked ON ip_guard (banned_until) WHERE banned_until IS NOT NULL OR blacklisted_at IS NOT NULL;
`;
