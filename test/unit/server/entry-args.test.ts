// `npm start`, `npm run demo`, the bench's servers and the tests' servers must start node the same way, with the same Node options.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SERVER_ENTRY_ARGS } from '../../../server/entry-args.js'

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string; demo: string } }

describe('how the server process starts', () => {
  it('npm start runs node with exactly the arguments the bench and the tests use', () => {
    expect(pkg.scripts.start).toBe(`exec node ${SERVER_ENTRY_ARGS.join(' ')}`)
  })

  it('npm run demo, which runs the server in its own process, has the same Node options', () => {
    const [envFile] = SERVER_ENTRY_ARGS
    expect(pkg.scripts.demo).toBe(`exec node ${envFile} --import tsx scripts/demo.ts`)
  })
})
