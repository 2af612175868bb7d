// The entry `npm start` runs. Checks the Node version against package.json's "engines" first, then loads the
// server (start.ts) dynamically: static imports are loaded before any line of this file runs, and on too old a
// Node one of them fails before the check could say why.
import { readFileSync } from 'node:fs'
import { nodeVersionProblem } from './check-node.js'

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }
const problem = nodeVersionProblem(process.versions.node, engines.node, process.platform, process.arch)
if (problem) {
  console.error(`[SERVER] ${problem}`)
  process.exit(1)
}
await import('./start.js')
