-- SPDX-License-Identifier: GPL-2.0-or-later
-- Downloads (server/dl.c). urls is a JSON array of mirror URLs tried in order;
-- total is -1 while unknown; expected is the checksum to verify (NULL: none).
CREATE TABLE downloads (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  urls TEXT NOT NULL,
  catalog_id TEXT,
  algo TEXT NOT NULL DEFAULT 'sha256',
  expected TEXT,
  state TEXT NOT NULL,          -- queued, running, paused, verifying, completed, failed
  total INTEGER NOT NULL DEFAULT -1,
  single INTEGER NOT NULL DEFAULT 0, -- 1: one stream, no ranges
  connections INTEGER NOT NULL,
  speed_limit INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  image_id TEXT,
  boot_id TEXT,                 -- kernel boot id when the 'written' rows were saved
  created_at INTEGER NOT NULL,
  finished_at INTEGER
);

-- Segment progress, two kinds. 'durable': bytes [start, pos) of [start, end) were
-- fdatasync'ed before the row was written (survives power loss). 'written': they were
-- written (pwrite returned) — in the page cache, which survives a killed daemon but not a
-- crashed kernel, so these rows are used only while downloads.boot_id is still the
-- running kernel's boot id; otherwise the 'durable' rows are.
CREATE TABLE download_segments (
  download_id TEXT NOT NULL REFERENCES downloads(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,           -- durable, written
  start INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  end INTEGER NOT NULL,
  PRIMARY KEY (download_id, kind, start)
);

-- The image library: completed downloads and imported files under DATA/images/.
CREATE TABLE images (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT,
  source TEXT NOT NULL,         -- download, import, upload
  origin TEXT,                  -- URL or imported path
  created_at INTEGER NOT NULL
);
