// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, and per area (our server code, each
// dependency, Node internals, GC), so a report can say where the time goes without opening DevTools.
import { readFile } from 'node:fs/promises'

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number }
type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export type ProfileSummary = {
  file: string
  totalMs: number
  /** Time with the thread busy (not idle), ms. */
  busyMs: number
  top: { function: string; location: string; selfMs: number; selfPercent: number }[]
  areas: { area: string; selfMs: number; selfPercent: number }[]
}

function shortLocation(url: string, line: number): string {
  if (!url) return ''
  const path = url.replace(/^file:\/\//, '')
  const nm = path.lastIndexOf('/node_modules/')
  const short = nm >= 0 ? path.slice(nm + '/node_modules/'.length) : path.replace(/^.*?\/(server|bench|test)\//, '$1/')
  return `${short}:${line + 1}`
}

function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame
  if (!url) {
    if (functionName === '(idle)') return '(idle)'
    if (functionName === '(garbage collector)') return '(garbage collector)'
    if (functionName === '(program)') return '(program: V8/native, unattributed)'
    return `(native) ${functionName || 'anonymous'}`
  }
  if (url.startsWith('node:')) return 'node internals'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const m = /\/(server\/[^/]+(?:\/[^/]+)?)\//.exec(url) ?? /\/(server)\//.exec(url)
  return m ? m[1] : url.replace(/^file:\/\//, '')
}

export async function summariseProfile(file: string, topN = 20): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const fns = new Map<string, { function: string; location: string; us: number }>()
  const areas = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (!node) continue
    total += us
    const f = node.callFrame
    if (f.functionName === '(idle)') idle += us
    const area = areaOf(f)
    areas.set(area, (areas.get(area) ?? 0) + us)
    const location = shortLocation(f.url, f.lineNumber)
    const key = `${f.functionName}|${location}`
    const entry = fns.get(key) ?? { function: f.functionName || '(anonymous)', location, us: 0 }
    entry.us += us
    fns.set(key, entry)
  }
  const busy = total - idle
  const share = (us: number) => Math.round((us / Math.max(1, busy)) * 1000) / 10
  return {
    file,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    top: [...fns.values()]
      .filter((f) => f.function !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ function: f.function, location: f.location, selfMs: Math.round(f.us / 1000), selfPercent: share(f.us) })),
    areas: [...areas.entries()]
      .filter(([a]) => a !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([area, us]) => ({ area, selfMs: Math.round(us / 1000), selfPercent: share(us) })),
  }
}
