import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { RECORD_MODULES, moduleFor } from '../../../server/indexer/records/index.js'
import { SAMPLES, sampleOp } from './fixtures.js'

const HEADER = new Set(['uri', 'did', 'rkey', 'rev', 'cid', 'seq', 'indexed_at'])
const schema = readFileSync(new URL('../../../server/db/migrations/001_init.sql', import.meta.url), 'utf8')

/** A table's own columns and their types, in order, read from the migration. */
function tableColumns(table: string): [string, string][] {
  const body = schema.match(new RegExp(`CREATE TABLE ${table} \\(\\n([\\s\\S]*?)\\n\\);`))?.[1]
  if (body === undefined) throw new Error(`no CREATE TABLE ${table} in 001_init.sql`)
  const columns = body
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => !line.startsWith('--'))
    .map((line) => line.split(/\s+/))
  return columns.filter(([name]) => !HEADER.has(name)).map(([name, type]) => [name, type.replace(/,$/, '')])
}

describe('the record registry', () => {
  it('covers exactly the eight indexed collections', () => {
    expect(RECORD_MODULES.map((module) => module.collection).sort()).toEqual(Object.keys(SAMPLES).sort())
    expect(Object.keys(SAMPLES)).toHaveLength(8)
  })

  it('finds each module by its collection', () => {
    for (const module of RECORD_MODULES) expect(moduleFor(module.collection)).toBe(module)
  })

  it('finds nothing for a collection it does not index', () => {
    expect(moduleFor('app.bsky.feed.threadgate')).toBeUndefined()
  })

  it.each(RECORD_MODULES.map((module) => [module.collection, module] as const))(
    'declares the own columns of the %s table, with their types and in their order in the migration',
    (_, module) => {
      expect(Object.entries(module.columns)).toEqual(tableColumns(module.table))
    },
  )

  it.each(RECORD_MODULES.map((module) => [module.collection, module] as const))(
    'maps a %s record to a row with exactly its columns, in order',
    (collection, module) => {
      const row = module.toRow(sampleOp(collection as keyof typeof SAMPLES))
      expect(Object.keys(row)).toEqual(Object.keys(module.columns))
    },
  )
})
