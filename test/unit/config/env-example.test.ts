// .env.backfill.example does what its first line says: nothing is set until you uncomment it, and each block,
// uncommented on its own, is a configuration skyfill accepts.
import { readFileSync } from 'node:fs'
import { parse } from 'dotenv'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/index.js'

const text = readFileSync(new URL('../../../.env.backfill.example', import.meta.url), 'utf8')
const lines = text.split('\n')

/** The `# NAME=value` lines of each `# --- title ---` block, uncommented. */
function blocks(): { title: string; env: Record<string, string> }[] {
  const out: { title: string; env: Record<string, string> }[] = []
  for (const line of lines) {
    const header = /^# --- (.+) ---$/.exec(line)
    if (header) out.push({ title: header[1]!, env: {} })
    else if (out.length && /^# [A-Z_]+=/.test(line)) Object.assign(out.at(-1)!.env, parse(line.slice(2)))
  }
  return out
}

describe('.env.backfill.example', () => {
  it('sets nothing as shipped, as its first line says', () => {
    expect(lines[0]).toMatch(/uncomment/)
    expect(parse(text)).toEqual({})
  })

  it('each profile block, the repositories block and the bounded-growth block, uncommented alone with the window, is accepted', () => {
    const all = blocks()
    expect(all.map((b) => b.title.split(':')[0])).toEqual([
      'background (the default)',
      'moderate',
      'fast',
      'max',
      'adaptive',
      'the API first',
      'by time of day (local time; first matching rule wins; * last)',
      'repositories (beyond what the relay replays)',
      'bounded growth',
    ])
    for (const { title, env } of all) {
      expect(() => parseConfig({ BACKFILL_DAYS: '3', ...env }), title).not.toThrow()
    }
  })
})
