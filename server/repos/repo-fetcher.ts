// Fetches one repository from the PDS its DID document names: com.atproto.sync.getRepo (with `since` for a window),
// through the address guard and the per-host limiter, its body streamed into openRepoCar with the size caps. It knows
// hosts, not records: what comes back is an opened RepoCar for the worker to walk, or an error that says whether the
// job should be retried, or recorded as unavailable with the account's status.
//
// A 429 or a 5xx is retried here a few times: the limiter has parked the host meanwhile (rate-limit headers,
// Retry-After, repeated failures), so the next acquire waits exactly as long as the host asked. So is a DID document
// the directory could not give just now (PLC down, 5xx, 429): the directory's host is parked the same way, and an
// outage of seconds costs each repository seconds, not a failed attempt and the job's retry delay.
import type { HostLimiter } from '../net/limiter.js'
import { FetchError, safeFetch, type SafeResponse } from '../net/safe-fetch.js'
import { IdentityError } from '../identity/errors.js'
import { SignatureVerifier } from '../pipeline/decoder/signature.js'
import { openRepoCar, type RepoCar } from './repo-car.js'
import { RepoCarError } from './repo-car-error.js'

/** The account cannot be fetched as it is (taken down, deactivated, gone): not retried until it changes. */
export class RepoUnavailable extends Error {
  override readonly name = 'RepoUnavailable'
  constructor(
    /** takendown | suspended | deactivated | deleted | not-found | no-pds */
    readonly status: string,
    message: string,
  ) {
    super(message)
  }
}

/** The repository's host is parked (rate limits, failures) for a while yet: the job is better given back than held. */
export class HostParked extends Error {
  override readonly name = 'HostParked'
  constructor(
    readonly host: string,
    readonly forMs: number,
  ) {
    super(`${host} is parked for ${Math.ceil(forMs / 1000)} s more`)
  }
}

/** The fetch failed; `retryable` says whether trying again later could help. */
export class RepoFetchFailed extends Error {
  override readonly name = 'RepoFetchFailed'
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message)
  }
}

export type RepoLocation = { pdsUrl: string | null; signingKey: string | null; problem: string | null }

export type RepoFetcherOptions = {
  /** The DID's PDS and signing key (cached by the caller); throws IdentityError when there is no document to read. */
  locate: (did: string) => Promise<RepoLocation>
  limiter: HostLimiter
  /** How long a host stays parked (ms); a job on a host parked longer than a moment is given back, not waited on. */
  parkedFor: (host: string) => number
  allowPrivate: boolean
  maxCarBytes: number
  maxRecordBytes: number
  spillDir: string
  spillAboveBytes: number
  /** Check the commit signature against the DID's key (BACKFILL_DECODER=verified). */
  verify: boolean
  /** Connecting and headers; and the longest a body may stall. */
  timeoutMs: number
  /** How often a 429 or 5xx is retried within one fetch before the job fails (and is retried later). */
  retries?: number
}

/**
 * An opened repository, or for a `since` diff with nothing in it (the PDS sends no blocks, not even the commit)
 * no CAR and the repository's current rev from getLatestCommit.
 */
export type FetchedRepo = { car: RepoCar | null; rev: string; dataCid: string | null; host: string; pdsUrl: string }

const ACCOUNT_ERRORS: Record<string, string> = {
  RepoTakendown: 'takendown',
  RepoSuspended: 'suspended',
  RepoDeactivated: 'deactivated',
  RepoNotFound: 'not-found',
  RepoDeleted: 'deleted',
}

const ERROR_BODY_BYTES = 4096
/** A park this short is waited out at the limiter; a longer one gives the job back, so the worker serves other hosts. */
const PARKED_WAIT_MS = 1000

export class RepoFetcher {
  private readonly signatures = new SignatureVerifier()

  constructor(private readonly opts: RepoFetcherOptions) {}

  async fetch(did: string, since: string | null, signal: AbortSignal): Promise<FetchedRepo> {
    const retries = this.opts.retries ?? 4
    const { pdsUrl, signingKey } = await this.locateRetrying(did, retries, signal)
    const url = new URL('/xrpc/com.atproto.sync.getRepo', pdsUrl)
    url.searchParams.set('did', did)
    if (since !== null) url.searchParams.set('since', since)
    // A host parked by other jobs' answers: give this job back rather than hold a worker. A job that met the refusal
    // itself retries below, waiting at the limiter as the host asked, and then fails with its backoff.
    const parked = this.opts.parkedFor(url.host)
    if (parked > PARKED_WAIT_MS) throw new HostParked(url.host, parked)
    for (let attempt = 0; ; attempt++) {
      const res = await this.request(url, signal)
      if (res.status === 200) {
        const car = await this.open(res, did, since, signingKey, signal)
        if (car) return { car, rev: car.commit.rev, dataCid: car.commit.dataCid, host: url.host, pdsUrl }
        return { car: null, rev: (await this.latestAt(pdsUrl, did, signal)).rev, dataCid: null, host: url.host, pdsUrl }
      }
      const failure = await this.failure(res, url)
      if (!(failure instanceof RepoFetchFailed) || !failure.retryable || attempt >= retries || signal.aborted) throw failure
    }
  }

  /** The DID's PDS and key; asked again while the directory cannot answer just now, as its host's parking allows. */
  private async locateRetrying(did: string, retries: number, signal: AbortSignal): Promise<{ pdsUrl: string; signingKey: string | null }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.locateRepo(did)
      } catch (err) {
        if (!(err instanceof RepoFetchFailed) || !err.retryable || attempt >= retries || signal.aborted) throw err
      }
    }
  }

  private async locateRepo(did: string): Promise<{ pdsUrl: string; signingKey: string | null }> {
    let location: RepoLocation
    try {
      location = await this.opts.locate(did)
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err
      if (err.kind === 'not-found') throw new RepoUnavailable('not-found', `no DID document: ${err.message}`)
      const what = err.retryable ? 'DID document unavailable just now' : 'DID document unusable'
      throw new RepoFetchFailed(`${what}: ${err.message}`, err.retryable)
    }
    if (location.pdsUrl === null) {
      throw new RepoUnavailable('no-pds', `the DID document names no usable PDS${location.problem ? ` (${location.problem})` : ''}`)
    }
    if (this.opts.verify && location.signingKey === null) {
      throw new RepoFetchFailed('the DID document has no #atproto signing key to verify the repository with', false)
    }
    return { pdsUrl: location.pdsUrl, signingKey: location.signingKey }
  }

  private async request(url: URL, signal: AbortSignal): Promise<SafeResponse> {
    try {
      return await safeFetch(url, {
        allowPrivate: this.opts.allowPrivate,
        limiter: this.opts.limiter,
        timeoutMs: this.opts.timeoutMs,
        idleTimeoutMs: this.opts.timeoutMs,
        maxBytes: this.opts.maxCarBytes,
        accept: 'application/vnd.ipld.car',
        signal,
      })
    } catch (err) {
      if (!(err instanceof FetchError)) throw err
      const retryable = err.kind === 'timeout' || err.kind === 'stalled' || err.kind === 'network'
      throw new RepoFetchFailed(`getRepo: ${err.message}`, retryable)
    }
  }

  /** The opened CAR; null for a `since` diff that holds nothing (the repository did not change since). */
  private async open(res: SafeResponse, did: string, since: string | null, key: string | null, signal: AbortSignal): Promise<RepoCar | null> {
    try {
      return await openRepoCar(res.body(), {
        did,
        maxCarBytes: this.opts.maxCarBytes,
        maxRecordBytes: this.opts.maxRecordBytes,
        spillDir: this.opts.spillDir,
        spillAboveBytes: this.opts.spillAboveBytes,
        verifyKey: this.opts.verify ? key : null,
        signatures: this.signatures,
        partial: since !== null,
        signal,
      })
    } catch (err) {
      res.cancel()
      if (err instanceof FetchError) {
        const retryable = err.kind === 'timeout' || err.kind === 'stalled' || err.kind === 'network'
        throw new RepoFetchFailed(`getRepo body: ${err.message}`, retryable)
      }
      if (!(err instanceof RepoCarError)) throw err
      if (err.kind === 'no-root' && since !== null) return null
      // A CAR cut short may be a dropped connection; a wrong block, root or signature will not heal by asking again.
      throw new RepoFetchFailed(`repository CAR refused (${err.kind}): ${err.message}`, err.kind === 'truncated')
    }
  }

  /** com.atproto.sync.getLatestCommit at the DID's PDS; null when the PDS no longer has the repository. */
  async latestCommit(did: string, signal: AbortSignal): Promise<{ rev: string; cid: string } | null> {
    const { pdsUrl } = await this.locateRepo(did)
    try {
      return await this.latestAt(pdsUrl, did, signal)
    } catch (err) {
      if (err instanceof RepoUnavailable) return null
      throw err
    }
  }

  private async latestAt(pdsUrl: string, did: string, signal: AbortSignal): Promise<{ rev: string; cid: string }> {
    const url = new URL('/xrpc/com.atproto.sync.getLatestCommit', pdsUrl)
    url.searchParams.set('did', did)
    const res = await this.request(url, signal)
    if (res.status !== 200) throw await this.failure(res, url)
    const body = JSON.parse(await readPrefix(res, ERROR_BODY_BYTES)) as { rev?: unknown; cid?: unknown }
    if (typeof body.rev !== 'string' || !/^[2-7a-z]{13}$/.test(body.rev) || typeof body.cid !== 'string') {
      throw new RepoFetchFailed(`${url.host} answered getLatestCommit without a valid rev and cid`, false)
    }
    return { rev: body.rev, cid: body.cid.slice(0, 200) }
  }

  /** What a non-200 answer means for the job. */
  private async failure(res: SafeResponse, url: URL): Promise<RepoUnavailable | RepoFetchFailed> {
    let error = ''
    let message = ''
    try {
      const body = JSON.parse(await readPrefix(res, ERROR_BODY_BYTES)) as { error?: unknown; message?: unknown }
      if (typeof body.error === 'string') error = body.error.slice(0, 100)
      if (typeof body.message === 'string') message = body.message.slice(0, 300)
    } catch {
      // not an XRPC error body: the status says it all
    }
    const status = ACCOUNT_ERRORS[error]
    const said = `${url.host} answered ${res.status}${error ? ` ${error}` : ''}${message ? `: ${message}` : ''}`
    if (status) return new RepoUnavailable(status, said)
    if (res.status === 404) return new RepoUnavailable('not-found', said)
    return new RepoFetchFailed(said, res.status === 429 || res.status >= 500)
  }
}

/** The start of a body, never more than `limit` bytes of it read (an error body is untrusted too). */
async function readPrefix(res: SafeResponse, limit: number): Promise<string> {
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for await (const chunk of res.body()) {
      chunks.push(chunk)
      size += chunk.byteLength
      if (size >= limit) break
    }
  } finally {
    res.cancel()
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit))
}
