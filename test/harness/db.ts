// Per-test database access: `const db = await testDatabase()` inside a test or beforeAll.
import { inject } from 'vitest'
import { createTestDatabase, type TestDatabase } from './postgres.js'

export function testDatabase(): Promise<TestDatabase> {
  return createTestDatabase(inject('pgAdminUrl'))
}
