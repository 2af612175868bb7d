// A bounded, JSON-safe excerpt of bad input for the rejects table: enough to diagnose, never enough to bloat the
// database or to fail the insert (Postgres jsonb cannot hold U+0000; hostile input can be deep or huge).
const MAX_CHARS = 2000
const MAX_DEPTH = 8

function simplify(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value
  if (typeof value === 'string') {
    const clean = value.replace(/\u0000/g, '\uFFFD')
    return clean.length > 300 ? `${clean.slice(0, 300)}…(${clean.length} chars)` : clean
  }
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`
  if (typeof value !== 'object') return String(value)
  // CIDs stringify to their canonical form
  if ('asCID' in value && (value as { asCID: unknown }).asCID === value) return { $link: String(value) }
  if (depth >= MAX_DEPTH) return '<nested too deep>'
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => simplify(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value).slice(0, 40)) out[k] = simplify(v, depth + 1)
  return out
}

export function boundedDetail(value: unknown): { excerpt: string } {
  let text = JSON.stringify(simplify(value, 0)) ?? 'undefined'
  if (text.length > MAX_CHARS) text = `${text.slice(0, MAX_CHARS)}…`
  // Slicing can split a surrogate pair, and jsonb rejects a lone surrogate.
  return { excerpt: text.toWellFormed() }
}

/** Text from untrusted input, made storable in a Postgres text column (no U+0000, no lone surrogates, bounded). */
export function safeText(value: string, max = 1000): string {
  const clean = value.replace(/\u0000/g, '\uFFFD')
  return (clean.length > max ? `${clean.slice(0, max)}…` : clean).toWellFormed()
}
