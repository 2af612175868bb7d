// When a work unit's lease (a repository job, a replay range) may be taken by another instance, in SQL shared by the
// stores that hold leases and the instance registry (columns from migration 007). Two signs that a holder is gone,
// whichever comes first:
//   - its instance row has not been written for its `live_ms`: the process is dead, and its units are claimable
//     within seconds rather than after their leases;
//   - the unit's own lease ran out: the holder stopped renewing this unit (or has no instance row).
// A restart of the database counts as a heartbeat and a renewal of every lease: nothing could be written while it was
// down, so a holder gets its full live time and lease length after the restart (pg_postmaster_start_time()) before
// it is judged gone, and its units are not taken from it merely because it was the last to reconnect.

/** SQL: the instance row `i` is live (heard from within its live_ms, counting from the database's start at the latest). */
export const INSTANCE_LIVE = `GREATEST(i.last_heartbeat, pg_postmaster_start_time()) >= now() - i.live_ms * interval '1 millisecond'`

/** SQL: the lease on a row of `table` (columns lease_owner, lease_until, lease_ms) has lapsed. */
export function leaseLapsed(table: string): string {
  return `(EXISTS (SELECT 1 FROM instances i WHERE i.id = ${table}.lease_owner AND NOT (${INSTANCE_LIVE}))
    OR GREATEST(${table}.lease_until, pg_postmaster_start_time() + COALESCE(${table}.lease_ms, 0) * interval '1 millisecond') < now())`
}
