import { expect, test } from 'vitest'
import { BEGIN_MARKER, END_MARKER, readCommitted, withBenchSection } from '../../../bench/run/docs.js'
import { docSection } from '../../../bench/run/report.js'

test("BACKFILL_OPTIMIZATION.md's bench part is what the committed bench/results.json gives (npm run bench -- --docs)", async () => {
  const { doc, results } = await readCommitted()
  expect(withBenchSection(doc, results)).toBe(doc)
})

test('only the text between the markers is replaced', async () => {
  const { results } = await readCommitted()
  const doc = `before\n${BEGIN_MARKER}\nstale figures\n${END_MARKER}\nafter\n`
  expect(withBenchSection(doc, results)).toBe(`before\n${BEGIN_MARKER}\n\n${docSection(results)}\n\n${END_MARKER}\nafter\n`)
})

test('a doc without the markers is refused', async () => {
  const { results } = await readCommitted()
  expect(() => withBenchSection('no markers here', results)).toThrow(/needs the two bench markers/)
})
