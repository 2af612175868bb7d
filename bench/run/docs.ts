// BACKFILL_OPTIMIZATION.md quotes the committed bench/results.json: the part between its two bench markers is
// generated (report.ts docSection), never edited by hand. `npm run bench -- --docs` rewrites it; a unit test checks
// that the committed doc equals what the committed results give, so the two cannot drift apart.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { BENCH_DIR, ROOT } from './paths.js'
import { docSection, type BenchResults } from './report.js'

export const DOC_PATH = path.join(ROOT, 'BACKFILL_OPTIMIZATION.md')
export const RESULTS_PATH = path.join(BENCH_DIR, 'results.json')
export const BEGIN_MARKER = '<!-- bench: generated from bench/results.json by `npm run bench -- --docs`; do not edit by hand -->'
export const END_MARKER = '<!-- bench: end of the generated part -->'

/** `doc` with the text between the markers replaced by the section for `results`. */
export function withBenchSection(doc: string, results: BenchResults): string {
  const begin = doc.indexOf(BEGIN_MARKER)
  const end = doc.indexOf(END_MARKER)
  if (begin < 0 || end < begin) throw new Error(`${path.relative(ROOT, DOC_PATH)} needs the two bench markers, in order: ${BEGIN_MARKER} ... ${END_MARKER}`)
  return `${doc.slice(0, begin + BEGIN_MARKER.length)}\n\n${docSection(results)}\n\n${doc.slice(end)}`
}

export async function readCommitted(): Promise<{ doc: string; results: BenchResults }> {
  const [doc, json] = await Promise.all([readFile(DOC_PATH, 'utf8'), readFile(RESULTS_PATH, 'utf8')])
  return { doc, results: JSON.parse(json) as BenchResults }
}

/** Rewrites the doc's generated part from bench/results.json; true when it changed. */
export async function updateDocs(): Promise<boolean> {
  const { doc, results } = await readCommitted()
  const next = withBenchSection(doc, results)
  if (next === doc) return false
  await writeFile(DOC_PATH, next)
  return true
}
