// The events/s chart: an inline SVG of the last ten minutes, one point a second, starting from the history the server
// keeps (rate-history.ts) and extended by each update. The backfill is filled; every other series in the points
// (the live firehose, and any the server adds) is a line of its own, styled by its name. Time runs along x, with
// clock labels below, so a gap in the data shows as a gap, not a squeeze.
import type { HistoryPoint } from './types.js'
import { decimal, niceCeiling } from './format.js'

const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 600
const HEIGHT = 160

export class RateChart {
  private points: HistoryPoint[] = []
  private readonly backfillArea: SVGPathElement
  private readonly lines = new Map<string, SVGPathElement>()

  constructor(
    private readonly svg: SVGSVGElement,
    private readonly labels: { max: HTMLElement; now: HTMLElement; peak: HTMLElement; axis: HTMLElement },
    private readonly windowMs = 600_000,
    private readonly tickMs = 120_000,
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

  /** The line of one series, made on first sight of its name. */
  private line(name: string): SVGPathElement {
    let node = this.lines.get(name)
    if (!node) {
      node = this.path(`line ${name}`)
      this.lines.set(name, node)
    }
    return node
  }

  private draw(): void {
    const pts = this.points
    const end = pts.at(-1)?.at ?? Date.now()
    const start = end - this.windowMs
    const names = [...new Set(pts.flatMap((p) => Object.keys(p).filter((k) => k !== 'at')))]
    const rate = (p: HistoryPoint, name: string) => (p as unknown as Record<string, number>)[name] ?? 0
    const peak = pts.reduce((m, p) => Math.max(m, ...names.map((n) => rate(p, n))), 0)
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
    for (const name of ['backfill', ...names.filter((n) => n !== 'backfill')]) {
      this.line(name).setAttribute('d', segments.map((seg) => seg.map((p, i) => `${i ? 'L' : 'M'}${x(p.at)},${y(rate(p, name))}`).join('')).join(''))
    }
    const area = segments
      .filter((seg) => seg.length > 1)
      .map((seg) => `M${x(seg[0]!.at)},${HEIGHT}` + seg.map((p) => `L${x(p.at)},${y(p.backfill)}`).join('') + `L${x(seg.at(-1)!.at)},${HEIGHT}Z`)
      .join('')
    this.backfillArea.setAttribute('d', area)
    this.drawAxis(start, end)
    this.svg.dataset.points = String(pts.length)
    this.labels.max.textContent = `${decimal(top).replace(/\.0$/, '')} evt/s`
    this.labels.peak.textContent = `peak ${decimal(peak)} evt/s`
    const last = pts.at(-1)
    this.labels.now.textContent = last ? `now ${decimal(last.backfill)} evt/s` : 'waiting for data'
  }

  /** Clock times (local, HH:MM) under the chart, on whole multiples of tickMs. */
  private drawAxis(start: number, end: number): void {
    const ticks: HTMLElement[] = []
    for (let t = Math.ceil(start / this.tickMs) * this.tickMs; t <= end; t += this.tickMs) {
      const label = document.createElement('span')
      label.className = 'axis-tick'
      label.style.left = `${(((t - start) / this.windowMs) * 100).toFixed(2)}%`
      label.dataset.at = String(t)
      label.textContent = new Date(t).toTimeString().slice(0, 5)
      ticks.push(label)
    }
    this.labels.axis.replaceChildren(...ticks)
  }
}
