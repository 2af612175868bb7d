// Three instances (real server processes) on one database share the replay of one window (BACKFILL_DAYS=-1 against
// a synthetic firehose): the window is planned once and split into seq ranges, each instance claims ranges under a
// lease and replays them; one is SIGKILLed in the middle of a range. The other two take its range over from its
// committed cursor once its heartbeat stops and finish the window: no gap (the tables equal a sequential replay of
// every frame), no range done twice (each done once, its done_at never rewritten), and no frame written twice (what
// the survivors wrote plus what the killed one had committed is exactly the window).
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import type { StoredFrame } from '../../bench/source/store.js'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'
import { spawnInstances, type ServerInstance as Instance } from '../harness/server-process.js'
import { bulkFrames } from '../faults/support/bulk.js'
import { groundTruth, readState, withoutHandles } from '../faults/support/truth.js'
import { until } from '../support/backfill.js'

const EVENTS = 16_000
const IDS = ['alpha', 'beta', 'gamma'] as const

type RangeRow = {
  id: string
  range_start: string
  range_end: string
  state: string
  lease_owner: string | null
  claimed_from: string | null
  claims: number
  done_by: string | null
  done_at: Date | null
  cursor: string | null
}

let frames: StoredFrame[]
let source: SyntheticFirehose
let db: TestDatabase
let pool: pg.Pool
const instances: Instance[] = []

async function ranges(): Promise<RangeRow[]> {
  const { rows } = await pool.query<RangeRow>(
    `SELECT r.*, c.seq AS cursor FROM replay_ranges r LEFT JOIN cursors c ON c.name = r.cursor_name ORDER BY r.range_start`,
  )
  return rows
}

/** A range being replayed, past its start and short of its end. */
function midRange(rows: RangeRow[]): RangeRow | undefined {
  return rows.find((r) => r.state === 'replaying' && Number(r.cursor) > Number(r.range_start) + 200 && Number(r.cursor) < Number(r.range_end) - 200)
}

async function progressOf(instance: Instance): Promise<BackfillProgress> {
  return (await (await fetch(`${instance.url}/api/backfill`)).json()) as BackfillProgress
}

beforeAll(async () => {
  frames = await bulkFrames({ accounts: 200, events: EVENTS, seed: 13 })
  ;[source, db] = await Promise.all([startSyntheticFirehose({ frames }), testDatabase()])
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
}, 60_000)

afterAll(async () => {
  for (const i of instances) i.server.kill('SIGKILL')
  await Promise.all(instances.map((i) => i.server.exited))
  await pool?.end()
  await Promise.all([db?.drop(), source?.close()])
})

describe('three instances replaying one window', () => {
  it('one SIGKILLed mid-range: the other two finish, with no gap, no range done twice and no frame written twice', async () => {
    instances.push(
      ...(await spawnInstances(IDS, {
        DATABASE_URL: db.url,
        RELAY_URL: source.url,
        PLC_URL: source.url.replace(/^ws/, 'http'),
        BACKFILL_DAYS: '-1',
        FIREHOSE_ENABLED: 'false',
        BACKFILL_BATCH_SIZE: '100',
        BACKFILL_BATCH_DELAY_MS: '50',
        BACKFILL_MAX_CONCURRENT: '2',
      })),
    )
    await Promise.all(instances.map((i) => i.server.waitForLine(/\[BACKFILL\] Replaying from cursor/, 60_000)))
    // Planned once: one instance located the window, the others joined the run it stored.
    expect(instances.filter((i) => i.server.lines.some((l) => /\[BACKFILL\] Locating the window/.test(l)))).toHaveLength(1)

    // Sampled all along: a done range stays done, and its done_at is written once.
    const doneAt = new Map<string, number>()
    const rewritten: string[] = []
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        for (const r of await ranges()) {
          const at = doneAt.get(r.id)
          if (at !== undefined && (r.state !== 'done' || r.done_at?.getTime() !== at)) rewritten.push(`${r.id}: ${r.state} ${r.done_at}`)
          if (at === undefined && r.done_at) doneAt.set(r.id, r.done_at.getTime())
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    })()

    // The victim: an instance in the middle of a range (past its start, short of its end), once some range is done.
    let victim: Instance | undefined
    let held: RangeRow | undefined
    await until(
      async () => {
        const rows = await ranges()
        held = midRange(rows)
        victim = instances.find((i) => i.id === held?.lease_owner)
        return rows.some((r) => r.state === 'done') && victim !== undefined
      },
      60_000,
      'a range done and another half replayed',
    )
    // Frozen first, then looked at again: on a loaded machine the victim could otherwise finish that range between
    // the look above and the kill. What it had sent lands meanwhile; its range must still be its own, unfinished.
    for (;;) {
      victim!.server.kill('SIGSTOP')
      await new Promise((r) => setTimeout(r, 300))
      const again = (await ranges()).find((r) => r.id === held!.id)!
      if (again.state === 'replaying' && again.lease_owner === victim!.id && Number(again.cursor) < Number(again.range_end)) {
        held = again
        break
      }
      victim!.server.kill('SIGCONT')
      await until(
        async () => {
          const rows = await ranges()
          held = midRange(rows)
          victim = instances.find((i) => i.id === held?.lease_owner)
          return victim !== undefined
        },
        60_000,
        'another range half replayed',
      )
    }
    victim!.server.kill('SIGKILL')
    await victim!.server.exited
    const survivors = instances.filter((i) => i !== victim)

    await Promise.all(survivors.map((i) => i.server.waitForLine(/\[BACKFILL\] Complete: reached head seq/, 60_000)))
    sampling = false
    await sampler

    const rows = await ranges()
    // The window, exactly covered: ranges end where the next begins, from the start to the head.
    expect(rows.length).toBeGreaterThanOrEqual(3)
    expect(Number(rows[0]!.range_start)).toBe(0)
    expect(Number(rows.at(-1)!.range_end)).toBe(EVENTS)
    rows.slice(1).forEach((r, i) => expect(r.range_start).toBe(rows[i]!.range_end))
    // Every range done, once, with its cursor at its end; the victim's half-done range taken over from its cursor.
    expect(rows.map((r) => ({ state: r.state, cursor: r.cursor }))).toEqual(rows.map((r) => ({ state: 'done', cursor: r.range_end })))
    expect(rewritten).toEqual([])
    const takenOver = rows.find((r) => r.id === held!.id)!
    expect(takenOver.claims).toBe(2)
    expect(survivors.map((s) => s.id)).toContain(takenOver.done_by)
    expect(Number(takenOver.claimed_from)).toBeGreaterThanOrEqual(Number(held!.cursor))
    const takeoverLines = survivors.flatMap((s) => s.server.lines.filter((l) => l.includes(`taken over from ${victim!.id}`)))
    expect(takeoverLines).toHaveLength(1)

    // No frame written twice: the survivors' frames and the victim's committed ones add up to the window.
    const progress = await Promise.all(survivors.map(progressOf))
    const survivorFrames = progress.reduce((n, p) => n + p.counts.processed, 0)
    const byVictim = rows.reduce(
      (n, r) =>
        n +
        (r.done_by === victim!.id ? Number(r.range_end) - Number(r.range_start) : 0) +
        (r.claims > 1 ? Number(r.claimed_from) - Number(r.range_start) : 0),
      0,
    )
    const bySurvivors = rows
      .filter((r) => r.done_by !== victim!.id)
      .reduce((n, r) => n + Number(r.range_end) - Number(r.claimed_from), 0)
    expect(survivorFrames).toBe(bySurvivors)
    expect(survivorFrames + byVictim).toBe(EVENTS)
    console.log(
      `[INSTANCES] ${rows.length} ranges of ${EVENTS} seqs; ${victim!.id} killed holding (${held!.range_start}, ${held!.range_end}] at cursor ` +
        `${held!.cursor}; frames written: ${survivors.map((s, i) => `${s.id} ${progress[i]!.counts.processed}`).join(', ')}, ` +
        `${victim!.id} ${byVictim} (committed before the kill)`,
    )

    // The whole run, as every survivor shows it; and as Postgres has it.
    for (const p of progress) expect(p).toMatchObject({ state: 'complete', cursor: EVENTS, head: EVENTS, percent: 100 })
    const run = await pool.query(`SELECT seq, meta->>'state' AS state FROM cursors WHERE name = 'backfill'`)
    expect(run.rows).toEqual([{ seq: String(EVENTS), state: 'complete' }])

    // No gap: the tables equal a sequential replay of every frame.
    expect(withoutHandles(await readState(pool))).toEqual(withoutHandles(await groundTruth(frames, 500)))
  }, 150_000)
})
