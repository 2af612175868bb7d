// The import graph of server/ runs one way: each folder may import only from its own layer or the layers below
// it, and no file reaches itself through its imports. Read from the source text (every `import`/`export … from`,
// types included), so a new arrow upward fails here before it tangles the code.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const SERVER = path.resolve(import.meta.dirname, '../../server')

/** Lowest first. A folder not listed fails the test, so a new one must be placed deliberately. */
const LAYERS: string[][] = [
  ['events', 'lib'],
  ['config'],
  ['db'],
  ['net'],
  ['identity'],
  ['pipeline'],
  ['indexer'],
  ['repos'],
  ['audit'],
  ['services'],
  ['api'],
  ['api-thread'],
  ['.'], // index.ts, main.ts, runtime.ts: start-up and wiring
]

function layerOf(file: string): number {
  const rel = path.relative(SERVER, file)
  const top = rel.includes(path.sep) ? rel.split(path.sep)[0]! : '.'
  const layer = LAYERS.findIndex((names) => names.includes(top))
  if (layer === -1) throw new Error(`server/${top} is in no layer: add it to LAYERS in ${path.basename(import.meta.filename)}`)
  return layer
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(full)
    return e.name.endsWith('.ts') ? [full] : []
  })
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8')
  const specs = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'/gms), ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)]
  return specs.map((m) => path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts')))
}

const files = sourceFiles(SERVER)
const graph = new Map(files.map((f) => [f, importsOf(f).filter((to) => to.startsWith(SERVER))]))
const rel = (f: string) => path.relative(path.dirname(SERVER), f)

describe('the import graph of server/', () => {
  it('every import resolves to a file', () => {
    const missing = [...graph].flatMap(([from, tos]) => tos.filter((to) => !fs.existsSync(to)).map((to) => `${rel(from)} → ${rel(to)}`))
    expect(missing).toEqual([])
  })

  it('has no arrow from a lower layer up to a higher one', () => {
    const upward = [...graph].flatMap(([from, tos]) =>
      tos.filter((to) => layerOf(to) > layerOf(from)).map((to) => `${rel(from)} → ${rel(to)}`),
    )
    expect(upward).toEqual([])
  })

  it('has no cycle', () => {
    const cycles: string[] = []
    const state = new Map<string, 'active' | 'done'>()
    const stack: string[] = []
    const visit = (file: string) => {
      state.set(file, 'active')
      stack.push(file)
      for (const to of graph.get(file) ?? []) {
        if (state.get(to) === 'active') cycles.push([...stack.slice(stack.indexOf(to)), to].map(rel).join(' → '))
        else if (!state.has(to)) visit(to)
      }
      stack.pop()
      state.set(file, 'done')
    }
    for (const file of files) if (!state.has(file)) visit(file)
    expect(cycles).toEqual([])
  })
})
