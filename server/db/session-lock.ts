// A lock that one instance among those sharing the database holds, and that dies with it: a Postgres session
// advisory lock, held on a connection of its own (a pool would hand the session to other work, or close it when
// idle, and the lock with it). When the holder dies (SIGKILL, a crash, a lost machine) its connection closes, the
// session ends and Postgres releases the lock at once; another instance's next try takes it.
//
// The holder must never go on believing it holds a lock Postgres has released (a database restart ends every
// session): the connection's end or error, or a liveness query that fails or hangs, counts as losing the lock, and
// the connection is closed so that a session Postgres still has cannot keep holding it either.
//
// The holder is named on its connection (application_name `skyfill-lock <owner>`), so that the others can tell
// whom they wait for from pg_locks and pg_stat_activity; Postgres keeps 63 bytes of it.
import pg from 'pg'

/** The two-int key of an advisory lock: (namespace, id). Shown in pg_locks as classid, objid with objsubid 2. */
export type AdvisoryKey = readonly [number, number]

export type SessionLockOptions = {
  databaseUrl: string
  key: AdvisoryKey
  /** Who tries to hold it (the instance id), named on the connection. */
  owner: string
  /** How often the holder checks that its connection still answers. */
  checkEveryMs: number
  /** How long a check (or any query on the lock's connection) may take before the lock counts as lost. */
  queryTimeoutMs: number
}

export type LockAttempt = { held: true; lost: Promise<string> } | { held: false; holder: string | null }

const APPLICATION_PREFIX = 'skyfill-lock '

const HOLDER_SQL = `
  SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`

export class SessionLock {
  private client: pg.Client | null = null
  private held: { timer: NodeJS.Timeout; lose: (reason: string) => void } | null = null

  constructor(private readonly opts: SessionLockOptions) {}

  /** One attempt. Held: `lost` resolves (with why) when it no longer is. Not held: who holds it, when known. */
  async tryAcquire(): Promise<LockAttempt> {
    if (this.held) throw new Error('tryAcquire() while the lock is held')
    const client = await this.connection()
    try {
      const [namespace, id] = this.opts.key
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [namespace, id])
      if (!rows[0]!.ok) {
        const holder = await client.query<{ application_name: string }>(HOLDER_SQL, [namespace, id])
        const name = holder.rows[0]?.application_name
        return { held: false, holder: name === undefined ? null : name.replace(APPLICATION_PREFIX, '') }
      }
    } catch (err) {
      this.drop(client)
      throw err
    }
    let lose!: (reason: string) => void
    const lost = new Promise<string>((resolve) => (lose = resolve))
    const timer = setInterval(() => {
      client.query('SELECT 1').catch((err: Error) => this.lose(`the lock's connection stopped answering: ${err.message}`))
    }, this.opts.checkEveryMs)
    this.held = { timer, lose }
    return { held: true, lost }
  }

  /** Lets the lock go (by ending its session) and closes the connection. */
  async release(): Promise<void> {
    const client = this.client
    if (this.held) this.lose('released')
    else if (client) this.drop(client)
    await client?.end().catch(() => {})
  }

  private lose(reason: string): void {
    if (!this.held) return
    clearInterval(this.held.timer)
    this.held.lose(reason)
    this.held = null
    if (this.client) this.drop(this.client)
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = null
    client.end().catch(() => {})
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client
    const client = new pg.Client({
      connectionString: this.opts.databaseUrl,
      application_name: `${APPLICATION_PREFIX}${this.opts.owner}`,
      connectionTimeoutMillis: this.opts.queryTimeoutMs,
      query_timeout: this.opts.queryTimeoutMs,
      keepAlive: true,
    })
    const ended = (reason: string) => {
      if (this.client !== client) return
      if (this.held) this.lose(reason)
      else this.drop(client)
    }
    client.on('error', (err) => ended(`the lock's connection failed: ${err.message}`))
    client.on('end', () => ended("the lock's connection ended"))
    await client.connect().catch((err: Error) => {
      client.end().catch(() => {})
      throw err
    })
    this.client = client
    return client
  }
}
