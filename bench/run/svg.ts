// A mode's timeline as a small hand-written SVG: events/s, server CPU and RSS over time, one panel each on a shared
// time axis, the measurement window shaded, so a reader of bench/results.md sees a governor hold its budget and the
// memory stay flat. Pure: data in, text out.
import type { Timeline } from './timeline.js'

export type Box = { x: number; y: number; width: number; height: number }

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (1 for nothing to show), so an axis ends on a round number. */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v - 1e-9 * p) return m * p
  return 10 * p
}

/** An axis from 0 to a multiple of a round step, with about four steps, so that little of the plot is left empty. */
export function axis(v: number): { max: number; step: number } {
  const step = niceCeiling(v / 4)
  return { max: Math.max(step, Math.ceil(v / step - 1e-9) * step), step }
}

const px = (v: number) => String(Math.round(v * 10) / 10)

/** `xs`/`ys` mapped into `box` (x from 0 to xMax, y from 0 at the bottom to yMax at the top), as SVG points. */
export function polylinePoints(xs: readonly number[], ys: readonly number[], box: Box, xMax: number, yMax: number): string {
  if (xs.length !== ys.length) throw new Error(`polylinePoints: ${xs.length} x values but ${ys.length} y values`)
  const sx = xMax > 0 ? box.width / xMax : 0
  const sy = yMax > 0 ? box.height / yMax : 0
  return xs.map((x, i) => `${px(box.x + x * sx)},${px(box.y + box.height - Math.min(ys[i], yMax) * sy)}`).join(' ')
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

type Panel = { label: string; unit: string; values: number[]; colour: string }

const WIDTH = 640
const LEFT = 56
const RIGHT = 12
const TOP = 26
const PANEL_HEIGHT = 80
const GAP = 26
const BOTTOM = 28

export function timelineSvg(title: string, timeline: Timeline): string {
  const panels: Panel[] = [
    { label: 'events/s', unit: '', values: timeline.eventsPerSecond, colour: '#1f77b4' },
    { label: 'server CPU', unit: '% of a core', values: timeline.serverCpuPercent, colour: '#d62728' },
    { label: 'RSS', unit: 'MB', values: timeline.rssMb, colour: '#2ca02c' },
  ]
  const x = axis(Math.max(1, ...timeline.t))
  const xMax = x.max
  const plotWidth = WIDTH - LEFT - RIGHT
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) - GAP + BOTTOM
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`)
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#fff"/>`)
  out.push(`<text x="${LEFT}" y="16" font-size="13" font-weight="bold">${escape(title)}</text>`)
  panels.forEach((panel, i) => {
    const box: Box = { x: LEFT, y: TOP + i * (PANEL_HEIGHT + GAP), width: plotWidth, height: PANEL_HEIGHT }
    const yMax = axis(Math.max(0, ...panel.values)).max
    out.push(`<g>`)
    if (timeline.window) {
      const x0 = box.x + (timeline.window.from / xMax) * box.width
      const x1 = box.x + (Math.min(timeline.window.to, xMax) / xMax) * box.width
      out.push(`<rect class="window" x="${px(x0)}" y="${box.y}" width="${px(Math.max(0, x1 - x0))}" height="${box.height}" fill="#eee"/>`)
    }
    out.push(`<rect x="${box.x}" y="${box.y}" width="${box.width}" height="${box.height}" fill="none" stroke="#999"/>`)
    out.push(`<text x="${box.x - 4}" y="${box.y + 10}" text-anchor="end">${yMax}</text>`)
    out.push(`<text x="${box.x - 4}" y="${box.y + box.height}" text-anchor="end">0</text>`)
    const last = panel.values.at(-1)
    const peak = Math.max(0, ...panel.values)
    out.push(
      `<text x="${box.x + 4}" y="${box.y - 4}">${escape(panel.label)}${panel.unit ? ` (${escape(panel.unit)})` : ''}: peak ${peak}${last === undefined ? '' : `, last ${last}`}</text>`,
    )
    if (panel.values.length) {
      out.push(`<polyline fill="none" stroke="${panel.colour}" stroke-width="1.5" points="${polylinePoints(timeline.t, panel.values, box, xMax, yMax)}"/>`)
    }
    out.push(`</g>`)
  })
  const axisY = TOP + panels.length * (PANEL_HEIGHT + GAP) - GAP
  for (let tick = 0; tick <= xMax + 1e-9; tick += x.step) {
    out.push(`<text x="${px(LEFT + (tick / xMax) * plotWidth)}" y="${axisY + 14}" text-anchor="middle">${Math.round(tick * 10) / 10}</text>`)
  }
  out.push(
    `<text x="${LEFT + plotWidth}" y="${axisY + 26}" text-anchor="end">seconds since the server started${timeline.window ? '; shaded: the measurement window' : ''}</text>`,
  )
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
