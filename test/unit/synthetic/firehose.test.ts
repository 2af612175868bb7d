import { IdResolver } from '@atproto/identity'
import { type Event, Firehose } from '@atproto/sync'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type GeneratedFrame, generateFrames } from '../../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../../bench/source/server.js'
import { eventually } from './helpers.js'

let frames: GeneratedFrame[]
let server: SyntheticFirehose
const events: Event[] = []
const errors: Error[] = []

beforeAll(async () => {
  frames = await generateFrames({ seed: 'synthetic-firehose', accounts: 8, events: 300, workers: 0 })
  server = await startSyntheticFirehose({ frames })
  const firehose = new Firehose({
    service: server.url,
    // The server answers plain HTTP with 404, so DID lookups end as "not found" instead of going online (the
    // default SSRF-safe fetch would refuse a loopback address outright).
    idResolver: new IdResolver({ plcUrl: server.url.replace(/^ws/, 'http'), fetch: globalThis.fetch }),
    unauthenticatedCommits: true,
    unauthenticatedHandles: true,
    getCursor: () => 0,
    handleEvent: (evt) => void events.push(evt),
    onError: (err) => void errors.push(err),
  })
  void firehose.start()
  await eventually(() => events.at(-1)?.seq === server.headSeq)
  await firehose.destroy()
})

afterAll(() => server?.close())

function plannedOps() {
  return frames.flatMap((f) =>
    (f.writes ?? []).map((w) => ({
      seq: f.seq,
      event: w.action,
      uri: `at://${f.did}/${w.collection}/${w.rkey}`,
      cid: w.action === 'delete' ? undefined : w.cid,
      record: w.action === 'delete' ? undefined : w.record,
    })),
  )
}

function receivedOps() {
  return events.flatMap((e) =>
    e.event === 'create' || e.event === 'update' || e.event === 'delete'
      ? [{
          seq: e.seq,
          event: e.event,
          uri: e.uri.toString(),
          cid: e.event === 'delete' ? undefined : e.cid.toString(),
          record: e.event === 'delete' ? undefined : e.record,
        }]
      : [],
  )
}

test('@atproto/sync Firehose accepts every frame without a validation or parse error', () => {
  expect(errors).toEqual([])
})

test('@atproto/sync Firehose receives as many creates, updates and deletes as the generator wrote', () => {
  const count = (ops: { event: string }[]) => Object.groupBy(ops, (op) => op.event)
  const planned = count(plannedOps())
  const received = count(receivedOps())
  expect(received.create?.length).toBe(planned.create?.length)
  expect(received.update?.length).toBe(planned.update?.length)
  expect(received.delete?.length).toBe(planned.delete?.length)
  expect(planned.create!.length).toBeGreaterThan(100)
  expect(planned.update!.length).toBeGreaterThan(0)
  expect(planned.delete!.length).toBeGreaterThan(0)
})

test('@atproto/sync Firehose receives every op with the seq, uri, cid and record value the generator wrote', () => {
  expect(receivedOps()).toEqual(plannedOps())
})

test('@atproto/sync Firehose receives an identity and an active account event for every account created', () => {
  const identities = events.filter((e) => e.event === 'identity').map((e) => e.did)
  const created = frames.filter((f) => f.account).map((f) => f.did)
  const activated = events.filter((e) => e.event === 'account' && e.active).map((e) => e.did)
  expect(identities).toEqual(created)
  expect(activated).toEqual(created)
  expect(created).toHaveLength(8)
})
