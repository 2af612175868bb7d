// A small seeded PRNG (sfc32) so a workload is a pure function of its seed: Math.random would make the
// generated repos, and so every byte on the wire, unreproducible between runs.
import { createHash } from 'node:crypto'

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest()
    this.a = h.readUInt32LE(0)
    this.b = h.readUInt32LE(4)
    this.c = h.readUInt32LE(8)
    this.d = h.readUInt32LE(12)
    // sfc32 needs a few rounds before its output stops reflecting the raw seed words.
    for (let i = 0; i < 12; i++) this.next()
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  /** An index in [0, n) biased towards n-1 (recent items), as activity on a social network is. */
  recentIndex(n: number, bias = 3): number {
    return n - 1 - Math.floor(n * Math.pow(this.next(), bias))
  }
}

/** A stable digest of a seed-scoped label, for deriving keys and identifiers. */
export function derive(seed: string, label: string): Buffer {
  return createHash('sha256').update(`${seed}\u0000${label}`).digest()
}
