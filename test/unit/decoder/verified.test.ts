// The verified decoder's own concerns: signatures, the signing-key lookups that fail or cannot be trusted, and
// #identity frames, whose handles it leaves to the identity service.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeMessageFrame } from '../../../bench/source/frames.js'
import type { GeneratedFrame } from '../../../bench/source/generator.js'
import { createDecoder } from '../../../server/pipeline/decoder/index.js'
import { createVerifiedDecoder } from '../../../server/pipeline/decoder/verified.js'
import type { DecodeResult, PipelineItem } from '../../../server/events/index.js'
import { PLC_URL, type WorkloadAccount, accountsOf, frameParts, workload, workloadResolver } from './workload.js'

const FAST_RETRY = { attempts: 3, baseDelayMs: 1 }

let frames: GeneratedFrame[]
let accounts: WorkloadAccount[]
let commit: GeneratedFrame

beforeAll(async () => {
  frames = await workload()
  accounts = accountsOf(frames)
  commit = frames.find((f) => f.type === '#commit' && f.writes!.length > 0)!
})

function items(result: DecodeResult): PipelineItem[] {
  if (result.kind !== 'frame') throw new Error(`expected a frame, got ${result.kind}`)
  return result.frame.items
}

/** Counts requests to the PLC and fails the first `failures` of them the way fetch reports a dead network. */
function flakyPlc(failures: number) {
  const calls = { plc: 0 }
  const wrap = (fetch: typeof globalThis.fetch): typeof globalThis.fetch => async (input, init) => {
    if (String(input).startsWith(PLC_URL) && calls.plc++ < failures) {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    }
    return fetch(input, init)
  }
  return { calls, wrap }
}

describe('verified decoder', () => {
  it('rejects every op of a commit signed with a key other than the DID document names', async () => {
    const rotated = accounts.map((a, i) => ({ ...a, signingKey: accounts[(i + 1) % accounts.length].signingKey }))
    const decoded = items(await createVerifiedDecoder(workloadResolver(rotated), { retry: FAST_RETRY }).decode(commit.bytes))
    expect(decoded).toHaveLength(commit.writes!.length)
    for (const item of decoded) {
      expect(item).toMatchObject({ kind: 'reject', category: 'verify', seq: commit.seq, did: commit.did })
      expect((item as { reason: string }).reason).toMatch(/^commit not verified: Invalid signature/)
    }
  })

  it('retries a PLC that fails for a while, then verifies', async () => {
    const { calls, wrap } = flakyPlc(2)
    const decoded = items(await createVerifiedDecoder(workloadResolver(accounts, wrap), { retry: FAST_RETRY }).decode(commit.bytes))
    expect(decoded.map((i) => i.kind)).toEqual([...commit.writes!.map((w) => w.action), 'commit'])
    expect(calls.plc).toBe(3)
  })

  it("rejects as 'verify' once retries are exhausted, without throwing", async () => {
    const { calls, wrap } = flakyPlc(Infinity)
    const decoded = items(await createVerifiedDecoder(workloadResolver(accounts, wrap), { retry: FAST_RETRY }).decode(commit.bytes))
    expect(decoded).toHaveLength(commit.writes!.length)
    expect(decoded[0]).toMatchObject({ kind: 'reject', category: 'verify', uri: expect.stringContaining(commit.did) })
    expect((decoded[0] as { reason: string }).reason).toMatch(/gave up after 3 attempts: fetch failed/)
    expect(calls.plc).toBe(3)
  })

  it('does not retry a DID the PLC does not know', async () => {
    const { calls, wrap } = flakyPlc(0)
    const others = accounts.filter((a) => a.did !== commit.did)
    const decoded = items(await createVerifiedDecoder(workloadResolver(others, wrap), { retry: FAST_RETRY }).decode(commit.bytes))
    expect(decoded[0]).toMatchObject({ kind: 'reject', category: 'verify' })
    expect((decoded[0] as { reason: string }).reason).toMatch(/Could not resolve DID/)
    expect(calls.plc).toBe(1)
  })

  it('takes no handle from an #identity frame and looks nothing up for it: the identity service verifies it after the commit', async () => {
    const identity = frames.find((f) => f.type === '#identity')!
    const requested: string[] = []
    const counting = (fetch: typeof globalThis.fetch): typeof globalThis.fetch => async (input, init) => {
      requested.push(String(input))
      return fetch(input, init)
    }
    const decoded = items(await createVerifiedDecoder(workloadResolver(accounts, counting), { retry: FAST_RETRY }).decode(identity.bytes))
    expect(decoded).toEqual([{ kind: 'identity', seq: identity.seq, time: identity.time, did: identity.did, handle: null }])
    expect(requested).toEqual([])
  })

  it('resolves against a PLC on localhost, as a dev environment runs one', async () => {
    const documents = new Map<string, unknown>()
    const resolver = workloadResolver(accounts)
    for (const a of accounts) documents.set(a.did, await resolver.did.resolve(a.did))
    const server = http.createServer((req, res) => {
      const doc = documents.get(decodeURIComponent(req.url!.slice(1)))
      res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(doc ?? {}))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const lines: string[] = []
      const decoder = createDecoder('verified', { plcUrl: `http://localhost:${port}`, log: (line) => lines.push(line) })
      const decoded = items(await decoder.decode(commit.bytes))
      expect(decoded.map((i) => i.kind)).toEqual([...commit.writes!.map((w) => w.action), 'commit'])
      expect(lines).toEqual(['verified decoder: secp256k1 signatures checked by libsecp256k1, P-256 by OpenSSL'])
    } finally {
      server.close()
    }
  })
})

describe('verified decoder, Sync 1.1 inversion', () => {
  /** The frame re-encoded with `change` applied to its body: the signed CAR stays as it was. */
  function altered(frame: GeneratedFrame, change: (body: Record<string, unknown>) => Record<string, unknown>): Uint8Array {
    return encodeMessageFrame('#commit', change(frameParts(frame.bytes).body))
  }

  const decode = async (bytes: Uint8Array) => items(await createVerifiedDecoder(workloadResolver(accounts), { retry: FAST_RETRY }).decode(bytes))
  const withOp = (action: string) => frames.find((f) => f.type === '#commit' && f.writes!.some((w) => w.action === action))!

  it('rejects every op of a commit whose ops do not undo to its prevData, and gives no position', async () => {
    const other = frameParts(frames.filter((f) => f.type === '#commit').at(-1)!.bytes).body.prevData
    const decoded = await decode(altered(commit, (body) => ({ ...body, prevData: other })))
    expect(decoded).toHaveLength(commit.writes!.length)
    for (const item of decoded) {
      expect(item).toMatchObject({ kind: 'reject', category: 'verify', seq: commit.seq })
      expect((item as { reason: string }).reason).toMatch(/its ops undone give \S+, not its prevData/)
    }
  })

  it('rejects a commit that leaves out one of its ops, since the rest no longer undo to prevData', async () => {
    const frame = frames.find((f) => f.type === '#commit' && f.writes!.length >= 2)!
    const decoded = await decode(altered(frame, (body) => ({ ...body, ops: (body.ops as unknown[]).slice(1) })))
    expect(decoded).toHaveLength(frame.writes!.length - 1)
    expect(decoded.every((i) => i.kind === 'reject' && i.category === 'verify')).toBe(true)
  })

  it.each(['update', 'delete'])('rejects a commit whose %s op has no prev: it cannot be undone', async (action) => {
    const frame = withOp(action)
    const ops = (frameParts(frame.bytes).body.ops as Record<string, unknown>[]).map((op) => (op.action === action ? { ...op, prev: null } : op))
    const decoded = await decode(altered(frame, (body) => ({ ...body, ops })))
    expect(decoded[0]).toMatchObject({ kind: 'reject', category: 'verify' })
    expect((decoded[0] as { reason: string }).reason).toMatch(new RegExp(`${action} of \\S+ has no prev`))
  })

  it('without prevData (Sync 1.0) still rejects just the op the signed tree does not hold', async () => {
    const frame = frames.find((f) => f.type === '#commit' && f.writes!.filter((w) => w.action !== 'delete').length >= 2)!
    const { body } = frameParts(frame.bytes)
    const ops = body.ops as Record<string, unknown>[]
    const victim = ops.findIndex((op) => op.action !== 'delete')
    const moved = ops.map((op, i) => (i === victim ? { ...op, path: `${op.path}x` } : op))
    const decoded = await decode(altered(frame, (b) => ({ ...b, ops: moved, prevData: undefined })))
    expect(decoded[victim]).toMatchObject({ kind: 'reject', category: 'verify', reason: 'op not proven by the signed commit' })
    expect(decoded.filter((i) => i.kind === 'reject')).toHaveLength(1)
    expect(decoded.at(-1)).toMatchObject({ kind: 'commit', seq: frame.seq })
  })
})
