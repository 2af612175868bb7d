// The embedded Postgres's memory for pages and for WAL, sized from the machine's memory. Postgres's defaults
// (shared_buffers 128 MB, wal_buffers 4 MB) are sized for a machine that runs anything at all; under a backfill
// writing thousands of rows a second, a backend that needs a page must first write out a dirty one, and the WAL up
// to it, and an insert holds its page's lock while it waits for room in the WAL buffers. The bench's probe of the
// API's backends during `max` caught a profile's read waiting 380 ms on such a page lock (LWLock BufferContent) and
// a count waiting 410 ms on WALWrite, both behind WAL being written out (BACKFILL_OPTIMIZATION.md, "The API while
// the backfill runs").
const MB = 1024 * 1024

export type EmbeddedSettings = { sharedBuffersMb: number; walBuffersMb: number }

/**
 * An eighth of the machine's memory for pages, between Postgres's 128 MB and 1 GB (a Raspberry Pi with 2 GB keeps
 * 256 MB; past 1 GB the operating system's page cache serves Postgres as well), and a sixteenth of that for WAL
 * buffers, between 4 and 64 MB.
 */
export function embeddedSettings(totalMemoryBytes: number): EmbeddedSettings {
  const sharedBuffersMb = Math.min(1024, Math.max(128, Math.floor(totalMemoryBytes / 8 / MB)))
  const walBuffersMb = Math.min(64, Math.max(4, Math.floor(sharedBuffersMb / 16)))
  return { sharedBuffersMb, walBuffersMb }
}

/** The settings as postgres command-line flags. */
export function settingsFlags(s: EmbeddedSettings): string[] {
  return ['-c', `shared_buffers=${s.sharedBuffersMb}MB`, '-c', `wal_buffers=${s.walBuffersMb}MB`]
}
