import { BlockMap, blocksToCarFile } from '@atproto/repo'
import { encode } from '@atproto/lex-cbor'
import { describe, expect, it } from 'vitest'
import { CarError, readCar } from '../../../server/pipeline/decoder/car.js'

async function sampleCar() {
  const blocks = new BlockMap()
  const post = await blocks.add({ $type: 'app.bsky.feed.post', text: 'hello', createdAt: '2024-01-01T00:00:00.000Z' })
  const like = await blocks.add({ $type: 'app.bsky.feed.like', createdAt: '2024-01-01T00:00:00.000Z' })
  const bytes = await blocksToCarFile(post, blocks)
  return { bytes, post, like, blocks }
}

function carError(fn: () => unknown): CarError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CarError)
    return err as CarError
  }
  throw new Error('expected a CarError')
}

describe('readCar', () => {
  it('reads every block, keyed by CID, with and without verification', async () => {
    const { bytes, post, like, blocks } = await sampleCar()
    for (const verify of [false, true]) {
      const car = readCar(bytes, { verify })
      expect(car.size).toBe(2)
      expect(car.get(post)).toEqual(blocks.get(post))
      expect(car.get(like)).toEqual(blocks.get(like))
    }
  })

  it('misses a CID that is not in the CAR', async () => {
    const { bytes } = await sampleCar()
    const other = await new BlockMap().add({ other: true })
    expect(readCar(bytes, { verify: false }).get(other)).toBeUndefined()
  })

  it('detects a block whose bytes do not match its CID only when verifying', async () => {
    const { bytes } = await sampleCar()
    const corrupted = bytes.slice()
    corrupted[corrupted.length - 3] ^= 0x01
    expect(readCar(corrupted, { verify: false }).size).toBe(2)
    expect(carError(() => readCar(corrupted, { verify: true })).code).toBe('hash')
  })

  it('fails with a typed error at every truncation point', async () => {
    const { bytes } = await sampleCar()
    for (let cut = 0; cut < bytes.length; cut++) {
      const prefix = bytes.subarray(0, cut)
      let outcome: string
      try {
        outcome = `ok:${readCar(prefix, { verify: true }).size}`
      } catch (err) {
        expect(err).toBeInstanceOf(CarError)
        outcome = 'error'
      }
      // A cut exactly between sections is a well-formed, shorter CAR.
      expect(['error', 'ok:0', 'ok:1']).toContain(outcome)
    }
  })

  it('refuses declared lengths beyond the input without allocating them', () => {
    const header = encode({ version: 1, roots: [] })
    // header, then a section claiming 2^48 bytes
    const huge = Uint8Array.from([header.length, ...header, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
    expect(carError(() => readCar(huge, { verify: false })).code).toBe('truncated')
    const endless = Uint8Array.from([header.length, ...header, ...new Array(20).fill(0xff)])
    expect(carError(() => readCar(endless, { verify: false })).code).toBe('varint')
  })

  it('rejects a header that is not a CAR v1 header', () => {
    for (const value of [{ version: 2, roots: [] }, { version: 1 }, { version: 1, roots: 'x' }, [1]]) {
      const header = encode(value as never)
      expect(carError(() => readCar(Uint8Array.from([header.length, ...header]), { verify: false })).code).toBe('header')
    }
    expect(carError(() => readCar(Uint8Array.from([3, 0xff, 0xff, 0xff]), { verify: false })).code).toBe('header')
    expect(carError(() => readCar(new Uint8Array(0), { verify: false })).code).toBe('truncated')
  })

  it('rejects a CIDv0 section', () => {
    const header = encode({ version: 1, roots: [] })
    const section = [0x12, 0x20, ...new Array(32).fill(7), 0xa0]
    const bytes = Uint8Array.from([header.length, ...header, section.length, ...section])
    expect(carError(() => readCar(bytes, { verify: false })).code).toBe('cid')
  })
})
