// The events/s chart: an inline SVG of the last two minutes, one point per server tick. Two series: the backfill
// (filled) and the live firehose (a line). Time runs along x, so a gap in the data shows as a gap, not a squeeze.
import type { HistoryPoint } from './types.js'
import { decimal, niceCeiling } from './format.js'

const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 600
const HEIGHT = 160

export class RateChart {
  private points: HistoryPoint[] = []
  private readonly backfillArea: SVGPathElement
  private readonly backfillLine: SVGPathElement
  private readonly firehoseLine: SVGPathElement

  constructor(
    private readonly svg: SVGSVGElement,
    private readonly labels: { max: HTMLElement; now: HTMLElement; peak: HTMLElement },
    private readonly windowMs = 120_000,
  ) {
    svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`)
    svg.setAttribute('preserveAspectRatio', 'none')
    for (const y of [0.25, 0.5, 0.75]) {
      const line = document.createElementNS(SVG, 'line')
      line.setAttribute('class', 'gridline')
      line.setAttribute('x1', '0')
      line.setAttribute('x2', String(WIDTH))
      line.setAttribute('y1', String(HEIGHT * y))
      line.setAttribute('y2', String(HEIGHT * y))
      svg.append(line)
    }
    this.backfillArea = this.path('area backfill')
    this.backfillLine = this.path('line backfill')
    this.firehoseLine = this.path('line firehose')
  }

  /** Replaces the data (the server's history on (re)connect), keeping any newer points we already have. */
  seed(points: HistoryPoint[]): void {
    const merged = new Map<number, HistoryPoint>()
    for (const p of [...points, ...this.points]) if (Number.isFinite(p.at)) merged.set(p.at, p)
    this.points = [...merged.values()].sort((a, b) => a.at - b.at)
    this.trim(Date.now())
    this.draw()
  }

  push(point: HistoryPoint): void {
    const last = this.points.at(-1)
    if (last && point.at <= last.at) return
    this.points.push(point)
    this.trim(point.at)
    this.draw()
  }

  get length(): number {
    return this.points.length
  }

  private trim(now: number): void {
    const from = now - this.windowMs
    while (this.points.length && this.points[0]!.at < from) this.points.shift()
  }

  private path(className: string): SVGPathElement {
    const node = document.createElementNS(SVG, 'path')
    node.setAttribute('class', className)
    this.svg.append(node)
    return node
  }

  private draw(): void {
    const pts = this.points
    const end = pts.at(-1)?.at ?? Date.now()
    const start = end - this.windowMs
    const peak = pts.reduce((m, p) => Math.max(m, p.backfill, p.firehose), 0)
    const top = niceCeiling(peak)
    const x = (at: number) => (((at - start) / this.windowMs) * WIDTH).toFixed(1)
    const y = (v: number) => (HEIGHT - (Math.max(0, v) / top) * (HEIGHT - 4)).toFixed(1)
    // Break the line where ticks are missing (more than 3 s apart): the page or the server was away.
    const segments: HistoryPoint[][] = []
    for (const p of pts) {
      const seg = segments.at(-1)
      const prev = seg?.at(-1)
      if (!seg || !prev || p.at - prev.at > 3000) segments.push([p])
      else seg.push(p)
    }
    const line = (key: 'backfill' | 'firehose') =>
      segments.map((seg) => seg.map((p, i) => `${i ? 'L' : 'M'}${x(p.at)},${y(p[key])}`).join('')).join('')
    const area = segments
      .filter((seg) => seg.length > 1)
      .map((seg) => `M${x(seg[0]!.at)},${HEIGHT}` + seg.map((p) => `L${x(p.at)},${y(p.backfill)}`).join('') + `L${x(seg.at(-1)!.at)},${HEIGHT}Z`)
      .join('')
    this.backfillArea.setAttribute('d', area)
    this.backfillLine.setAttribute('d', line('backfill'))
    this.firehoseLine.setAttribute('d', line('firehose'))
    this.svg.dataset.points = String(pts.length)
    this.labels.max.textContent = `${decimal(top).replace(/\.0$/, '')} evt/s`
    this.labels.peak.textContent = `peak ${decimal(peak)} evt/s`
    const last = pts.at(-1)
    this.labels.now.textContent = last ? `now ${decimal(last.backfill)} evt/s` : 'waiting for data'
  }
}
