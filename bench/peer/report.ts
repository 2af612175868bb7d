// The peer's section of bench/results.md and its ratio: how many times the peer's events/s a mode of ours replays.
import type { PeerReport } from './measure-peer.js'

/** Ours over the peer's events/s; null when either was not measured. */
export function peerRatio(eventsPerSecond: number | null | undefined, peer: Pick<PeerReport, 'eventsPerSecond'> | null): number | null {
  if (!peer || !eventsPerSecond || !(peer.eventsPerSecond > 0)) return null
  return eventsPerSecond / peer.eventsPerSecond
}

/** Our figures for the same table (from the mode the ratio is taken against). */
export type OurFigures = { mode: string; eventsPerSecond: number; recordsPerSecond?: number | null; eventsPerCpuSecond?: number | null }

const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

export function peerMarkdown(peer: PeerReport, ours: OurFigures | null): string {
  const ratio = peerRatio(ours?.eventsPerSecond, peer)
  const cpuRatio = ours?.eventsPerCpuSecond && peer.eventsPerCpuSecond ? ours.eventsPerCpuSecond / peer.eventsPerCpuSecond : null
  const cpuPercent = (s: number | null) => (s === null ? null : (s / peer.seconds) * 100)
  const lines = [
    '## The peer: Bluesky\'s appview indexer on the same frames',
    '',
    `${peer.peer}, as the bsky data plane runs it (its own schema \`bsky\`, ${peer.poolSize} connections), on the same Postgres cluster and the same synthetic firehose, over the first ${n(peer.subset.events)} events of this workload (at most ${peer.subset.timeLimitS} s). ` +
      'Events/s counts each event as its handler finishes; records/s the record operations in as many events from the start. Its DIDs resolve against a stub directory serving the workload\'s identities, as a live network would: the peer resolves each new actor inline, and against a directory that knows no DID (as our server\'s is) it would look the actor up again on every event.',
    '',
    '| | events | seconds | events/s | records/s | events per CPU-second | process CPU % | Postgres CPU % | peak RSS MB |',
    '|---|---|---|---|---|---|---|---|---|',
    `| peer | ${n(peer.events)}${peer.completed ? '' : ` (time bound; cursor ${n(peer.cursor)}, ${n(peer.received)} read)`} | ${n(peer.seconds, 1)} | ${n(peer.eventsPerSecond)} | ${n(peer.recordsPerSecond)} | ${n(peer.eventsPerCpuSecond)} | ${n(cpuPercent(peer.cpuSeconds))} | ${n(cpuPercent(peer.postgresCpuSeconds))} | ${n(peer.peakRssMb)} |`,
  ]
  if (peer.rows.post + peer.rows.like + peer.rows.follow === 0) {
    lines.push('', '**The peer wrote no posts, likes or follows: it did not index, and its figures measure nothing.**')
  }
  if (ours) lines.push(`| ours (${ours.mode}) | | | ${n(ours.eventsPerSecond)} | ${n(ours.recordsPerSecond)} | ${n(ours.eventsPerCpuSecond)} | | | |`)
  lines.push(
    '',
    `**peerRatio = ${ratio === null ? '–' : `${n(ratio, 1)}×`}** (our ${ours?.mode ?? 'max'} events/s over the peer's)` +
      (cpuRatio === null ? '.' : `; per CPU-second of each process, which a busy machine disturbs less: ${n(cpuRatio, 1)}×.`),
    '',
    `Indexed by the peer: ${n(peer.rows.post)} posts, ${n(peer.rows.like)} likes, ${n(peer.rows.follow)} follows, ${n(peer.rows.repost)} reposts, ${n(peer.rows.profile)} profiles, ${n(peer.rows.actor)} actors, ${n(peer.rows.record)} records, ${n(peer.rows.notification)} notifications. ` +
      `Identity lookups: ${n(peer.identityRequests.didDocuments)} DID documents, ${n(peer.identityRequests.handles)} handles. ` +
      (peer.drainSeconds === null ? 'Its queued aggregate work was not waited for.' : `Its queued aggregate work took ${n(peer.drainSeconds, 1)} s more after the last event, not counted above.`),
    '',
  )
  return lines.join('\n')
}
