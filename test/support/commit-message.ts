// The writer ends a transaction with one message (server/indexer/sql.ts commitSql): the counted span and the cursor,
// if any, then COMMIT. Tests that hold a transaction "at COMMIT" stop before that message.
export function isCommitMessage(sql: unknown): boolean {
  return typeof sql === 'string' && /(^|;)\s*COMMIT\s*$/.test(sql)
}
