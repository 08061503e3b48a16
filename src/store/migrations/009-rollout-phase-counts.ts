export const version = 9;
export const name = 'rollout-phase-counts';
// Devices per (rollout, phase), kept by triggers in the same write that changes a device's
// phase: the rollout runner reads a rollout's totals on every decision, and counting a
// 10,000-device rollout's rows each time cost milliseconds per device started. The device
// rows stay the truth; the counts are derived in the same transaction, so a crash cannot part them.
export const sql = `
CREATE TABLE rollout_phase_counts (
  rollout_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, phase)
) STRICT, WITHOUT ROWID;
INSERT INTO rollout_phase_counts (rollout_id, phase, n) SELECT rollout_id, phase, COUNT(*) FROM rollout_devices GROUP BY rollout_id, phase;
CREATE TRIGGER rollout_devices_count_insert AFTER INSERT ON rollout_devices BEGIN
  INSERT INTO rollout_phase_counts (rollout_id, phase, n) VALUES (NEW.rollout_id, NEW.phase, 1)
    ON CONFLICT (rollout_id, phase) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER rollout_devices_count_delete AFTER DELETE ON rollout_devices BEGIN
  UPDATE rollout_phase_counts SET n = n - 1 WHERE rollout_id = OLD.rollout_id AND phase = OLD.phase;
END;
CREATE TRIGGER rollout_devices_count_update AFTER UPDATE OF phase ON rollout_devices WHEN OLD.phase IS NOT NEW.phase BEGIN
  UPDATE rollout_phase_counts SET n = n - 1 WHERE rollout_id = OLD.rollout_id AND phase = OLD.phase;
  INSERT INTO rollout_phase_counts (rollout_id, phase, n) VALUES (NEW.rollout_id, NEW.phase, 1)
    ON CONFLICT (rollout_id, phase) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER rollouts_count_delete AFTER DELETE ON rollouts BEGIN
  DELETE FROM rollout_phase_counts WHERE rollout_id = OLD.rollout_id;
END;
`;
