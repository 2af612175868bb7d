// A CID's string form (base32, the multibase every atproto CIDv1 is written in), built in one buffer. multiformats
// appends one character at a time, which leaves V8 a rope of some sixty pieces per CID that it flattens again
// wherever the string is next compared or sent: under --cpu-prof in max, that and the encoding itself were ~3% of the
// server's time (three CIDs a commit: its data, its prevData, each record's). Same output as multiformats' toString.
const ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyz234567', 'latin1')
const MULTIBASE_BASE32 = 0x62 // 'b'

export type EncodableCid = { readonly version: number; readonly bytes: Uint8Array; toString(): string }

export function cidString(cid: EncodableCid): string {
  // CIDv0 is written in base58btc, which atproto never produces: leave it to multiformats.
  if (cid.version !== 1) return cid.toString()
  const bytes = cid.bytes
  const out = Buffer.allocUnsafe(1 + Math.ceil((bytes.length * 8) / 5))
  out[0] = MULTIBASE_BASE32
  let j = 1
  let bits = 0
  let buffer = 0
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]) & 0xfff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[j++] = ALPHABET[(buffer >>> bits) & 31]
    }
  }
  if (bits > 0) out[j++] = ALPHABET[(buffer << (5 - bits)) & 31]
  return out.toString('latin1', 0, j)
}
