// The dashboard's entry point: wires the SSE stream to the renderers, the chart, the stats panel, the controls and
// the audit card.
import './style.css'
import { AdminControls } from './admin.js'
import { AuditCard } from './audit.js'
import { RateChart } from './chart.js'
import { field } from './dom.js'
import { LiveConnection } from './live.js'
import { render } from './render.js'
import { StatsPanel } from './stats.js'

const chart = new RateChart(field<SVGSVGElement>('rate-chart'), {
  max: field('chart-max'),
  now: field('chart-now'),
  peak: field('chart-peak'),
  axis: field('chart-axis'),
})
const stats = new StatsPanel()
const admin = new AdminControls()
new AuditCard()

const connection = field('connection')
const live = new LiveConnection('api/live', {
  onProgress(payload) {
    try {
      render(payload)
    } catch (err) {
      // A shape we do not know (a newer server?) must not freeze the page: say so, keep the stream.
      console.error(err)
      field('connection-detail').textContent = `could not show an update: ${err instanceof Error ? err.message : String(err)}`
    }
    chart.push({
      at: Date.parse(payload.at),
      backfill: payload.backfill.eventsPerSecond,
      firehose: payload.firehose.eventsPerSecond,
      repos: payload.backfill.repos?.recordsPerSecond ?? 0,
    })
    admin.update(payload.backfill)
    stats.maybeRefresh(payload.backfill.counts.processed + payload.firehose.processed + (payload.backfill.repos?.recordsWritten ?? 0))
    document.body.classList.add('has-data')
  },
  onHistory(points) {
    chart.seed(points)
  },
  onConnection(state, detail) {
    connection.textContent = state
    connection.dataset.connection = state
    document.body.dataset.connection = state
    field('connection-detail').textContent = state === 'live' ? '' : detail
  },
})

live.connect()
void stats.refresh()
