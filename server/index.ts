// The entry `npm start` runs. Checks the Node version against package.json's "engines" first, then loads the
// server (start.ts) dynamically: static imports are loaded before any line of this file runs, and on too old a
// Node one of them fails before the check could say why.
import { readFileSync } from 'node:fs'
import * as nodeModule from 'node:module'
import { nodeVersionProblem } from './check-node.js'

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines: { node: string } }
const problem = nodeVersionProblem(process.versions.node, engines.node, process.platform, process.arch)
if (problem) {
  console.error(`[SERVER] ${problem}`)
  process.exit(1)
}
// tsx turns source maps on for every module, node_modules included, and Node then keeps each library's map, its
// sources inlined, for the life of the process (about 6 MB of an idle server's heap, measured). Stack traces need
// only our own TypeScript mapped; a library's frames point into its published JavaScript, as without tsx. (Node
// 22.14 and later; on an earlier 22 everything stays mapped.)
nodeModule.setSourceMapsSupport?.(true, { nodeModules: false, generatedCode: false })
await import('./start.js')
