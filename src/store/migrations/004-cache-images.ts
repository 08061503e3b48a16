// Firmware cache index and the desired image set.
export const version = 4;
export const name = 'cache-images';
export const sql = `
-- One row per complete, verified object on disk (file name = sha256).
CREATE TABLE cache_objects (
  sha256 TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_access INTEGER NOT NULL
) STRICT;
CREATE INDEX cache_objects_lru ON cache_objects (last_access);

-- Firmware paths filled on demand from the provisioning server (not in the desired set).
CREATE TABLE cache_paths (
  path TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX cache_paths_sha ON cache_paths (sha256);

-- The DMS's desired image set (PROTOCOL 5) and each image's sync state. An object whose
-- sha256 appears here is pinned: eviction never removes it.
CREATE TABLE images (
  image_id TEXT PRIMARY KEY,
  vendor TEXT NOT NULL,
  models TEXT NOT NULL,
  version TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  url TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'syncing', 'synced', 'failed')),
  bytes INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX images_path ON images (path);
CREATE INDEX images_sha ON images (sha256);

-- Facts about the last catalogue fetched (single row).
CREATE TABLE images_catalogue (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  sync_window TEXT,
  fetched_at INTEGER NOT NULL
) STRICT;
`;
