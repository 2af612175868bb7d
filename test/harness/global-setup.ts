// Starts what every test file shares, once per `npm test`: the Postgres cluster with its migrated template.
import type { TestProject } from 'vitest/node'
import { startTestPostgres } from './postgres.js'

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string
  }
}

export default async function setup(project: TestProject) {
  const pg = await startTestPostgres()
  project.provide('pgAdminUrl', pg.adminUrl)
  return async () => {
    await pg.stop()
  }
}
