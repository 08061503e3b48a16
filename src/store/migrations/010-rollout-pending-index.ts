export const version = 10;
export const name = 'rollout-pending-index';
// "Which devices start next" is asked on every decision of the rollout runner. With pending
// and waiting devices in one query SQLite had to sort every not-yet-started row of the rollout
// (or walk past every finished one) to find the first few: a partial index holding only the
// pending rows, in submission order, answers with the first rows of the index however big the
// rollout. Phones waiting for idle are found through rollout_devices_next by their retry time.
export const sql = `
CREATE INDEX rollout_devices_pending ON rollout_devices (rollout_id, seq) WHERE phase = 'pending';
`;
