// Which IP addresses skyfill may connect to on behalf of data it read from the network. A DID document or a handle
// is written by anyone, so the addresses they lead to must be public ones: never loopback, the operator's private
// networks, link-local (cloud metadata services live at 169.254.169.254), or ranges that are not routed at all.
// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the address they carry.
// Pure: safe-fetch.ts applies it to every address a hostname resolves to, at connect time.

type Range = { bytes: number[]; bits: number; reason: string }

const cidrOf =
  (parse: (text: string) => number[] | null) =>
  (cidr: string, reason: string): Range => {
    const [addr, bits] = cidr.split('/')
    return { bytes: parse(addr)!, bits: Number(bits), reason }
  }
const v4 = cidrOf(parseIPv4)
const v6 = cidrOf(parseIPv6)

// IANA IPv4 Special-Purpose Address Registry, the ranges not reachable (or not meant to be reached) on the Internet.
const IPV4_REFUSED: Range[] = [
  v4('255.255.255.255/32', 'broadcast'),
  v4('0.0.0.0/32', 'unspecified'),
  v4('0.0.0.0/8', '"this network" (0.0.0.0/8)'),
  v4('10.0.0.0/8', 'private (10.0.0.0/8)'),
  v4('100.64.0.0/10', 'carrier-grade NAT (100.64.0.0/10)'),
  v4('127.0.0.0/8', 'loopback (127.0.0.0/8)'),
  v4('169.254.0.0/16', 'link-local (169.254.0.0/16)'),
  v4('172.16.0.0/12', 'private (172.16.0.0/12)'),
  v4('192.0.0.0/24', 'IETF protocol assignments (192.0.0.0/24)'),
  v4('192.0.2.0/24', 'documentation (192.0.2.0/24)'),
  v4('192.88.99.0/24', '6to4 relay anycast (192.88.99.0/24)'),
  v4('192.168.0.0/16', 'private (192.168.0.0/16)'),
  v4('198.18.0.0/15', 'benchmarking (198.18.0.0/15)'),
  v4('198.51.100.0/24', 'documentation (198.51.100.0/24)'),
  v4('203.0.113.0/24', 'documentation (203.0.113.0/24)'),
  v4('224.0.0.0/4', 'multicast (224.0.0.0/4)'),
  v4('240.0.0.0/4', 'reserved (240.0.0.0/4)'),
]

// Checked after the IPv4-carrying forms; anything outside 2000::/3 is refused as not global unicast.
const IPV6_REFUSED: Range[] = [
  v6('::/128', 'unspecified (::)'),
  v6('::1/128', 'loopback (::1)'),
  v6('64:ff9b:1::/48', 'local-use NAT64 (64:ff9b:1::/48)'),
  v6('100::/64', 'discard-only (100::/64)'),
  v6('2001::/23', 'IETF protocol assignments (2001::/23: Teredo, benchmarking, ORCHID)'),
  v6('2001:db8::/32', 'documentation (2001:db8::/32)'),
  v6('3fff::/20', 'documentation (3fff::/20)'),
  v6('5f00::/16', 'segment routing (5f00::/16)'),
  v6('fc00::/7', 'unique-local (fc00::/7)'),
  v6('fe80::/10', 'link-local (fe80::/10)'),
  v6('fec0::/10', 'site-local (fec0::/10)'),
  v6('ff00::/8', 'multicast (ff00::/8)'),
]
const GLOBAL_UNICAST = v6('2000::/3', '')

// Prefixes whose last 32 bits (or, for 6to4, bits 16-48) are an IPv4 address that decides.
const IPV4_MAPPED = v6('::ffff:0:0/96', 'IPv4-mapped')
const IPV4_COMPATIBLE = v6('::/96', 'IPv4-compatible')
const IPV4_TRANSLATED = v6('::ffff:0:0:0/96', 'IPv4-translated')
const NAT64 = v6('64:ff9b::/96', 'NAT64')
const SIX_TO_FOUR = v6('2002::/16', '6to4')

/** Why connecting to `ip` is refused, or null when it is a public address. Anything that is not an IP is refused. */
export function describeAddress(ip: string): string | null {
  const bytes4 = parseIPv4(ip)
  if (bytes4) return refusedIPv4(bytes4)
  const bytes6 = parseIPv6(ip)
  if (!bytes6) return `not an IP address: ${JSON.stringify(ip)}`
  for (const form of [IPV4_MAPPED, IPV4_TRANSLATED, NAT64]) {
    if (inRange(bytes6, form)) return carried(form.reason, bytes6.slice(12, 16))
  }
  // ::/96 also holds :: and ::1, which are IPv6's own unspecified and loopback, not IPv4-compatible forms.
  if (inRange(bytes6, IPV4_COMPATIBLE) && !bytes6.slice(12, 15).every((b) => b === 0)) {
    return carried(IPV4_COMPATIBLE.reason, bytes6.slice(12, 16))
  }
  if (inRange(bytes6, SIX_TO_FOUR)) return carried(SIX_TO_FOUR.reason, bytes6.slice(2, 6))
  const range = IPV6_REFUSED.find((r) => inRange(bytes6, r))
  if (range) return range.reason
  if (!inRange(bytes6, GLOBAL_UNICAST)) return 'reserved (outside global unicast 2000::/3)'
  return null
}

export function isPublicAddress(ip: string): boolean {
  return describeAddress(ip) === null
}

function refusedIPv4(bytes: number[]): string | null {
  return IPV4_REFUSED.find((r) => inRange(bytes, r))?.reason ?? null
}

function carried(form: string, ipv4: number[]): string | null {
  const reason = refusedIPv4(ipv4)
  return reason === null ? null : `${form} ${ipv4.join('.')}: ${reason}`
}

function inRange(bytes: number[], range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false
  const whole = Math.floor(range.bits / 8)
  for (let i = 0; i < whole; i++) if (bytes[i] !== range.bytes[i]) return false
  const rest = range.bits % 8
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (bytes[whole] & mask) === (range.bytes[whole] & mask)
}

/** Dotted-quad only: other spellings (0x7f.1, 2130706433) are what URL parsing and DNS never hand over. */
function parseIPv4(text: string): number[] | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const bytes: number[] = []
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null
    const n = Number(part)
    if (n > 255) return null
    bytes.push(n)
  }
  return bytes
}

function parseIPv6(input: string): number[] | null {
  // Brackets as in URL hostnames; a zone (fe80::1%eth0) does not change which range the address is in.
  let text = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input
  const zone = text.indexOf('%')
  if (zone >= 0) text = text.slice(0, zone)
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    const embedded = parseIPv4(text.slice(lastColon + 1))
    if (!embedded) return null
    tail = embedded
    text = text.slice(0, lastColon + 1) + '0:0'
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const groups = (half: string) => (half === '' ? [] : half.split(':'))
  const head = groups(halves[0])
  const back = halves.length === 2 ? groups(halves[1]) : []
  const missing = 8 - head.length - back.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...back]
  const bytes: number[] = []
  for (const group of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null
    const n = parseInt(group, 16)
    bytes.push(n >> 8, n & 0xff)
  }
  if (tail.length) bytes.splice(12, 4, ...tail)
  return bytes
}
