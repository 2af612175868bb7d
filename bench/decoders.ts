// `npm run bench:decoders`: throughput of each decoder on a generated workload, printed for the record: on all its
// frames, and on its #commit frames alone. The verified decoder checks each #identity frame's handle over the
// network (DNS, then HTTPS), so on all frames it measures those lookups' waits as much as its own work.
import type { FrameDecoder } from '../server/pipeline/decoder/types.js'
import { createLeanDecoder } from '../server/pipeline/decoder/lean.js'
import { createSyncDecoder } from '../server/pipeline/decoder/sync.js'
import { createVerifiedDecoder } from '../server/pipeline/decoder/verified.js'
import { accountsOf, frameParts, workload, workloadResolver } from '../test/unit/decoder/workload.js'

const MIN_MEASURED_MS = 1500

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** Frames per second of wall time, and per CPU-second of this process (which a busy machine disturbs less). */
async function measure(decoder: FrameDecoder, frames: Uint8Array[]): Promise<{ opsPerSec: number; framesPerSec: number; framesPerCpuSec: number }> {
  let ops = 0
  const round = async () => {
    for (const bytes of frames) {
      const result = await decoder.decode(bytes)
      if (result.kind === 'frame') for (const item of result.frame.items) if (item.kind === 'create' || item.kind === 'update' || item.kind === 'delete') ops++
    }
  }
  await round() // warm-up: JIT, and the verified decoder's DID cache
  ops = 0
  let rounds = 0
  const started = performance.now()
  const cpuStarted = cpuSeconds()
  while (performance.now() - started < MIN_MEASURED_MS) {
    await round()
    rounds++
  }
  const seconds = (performance.now() - started) / 1000
  const cpu = cpuSeconds() - cpuStarted
  return { opsPerSec: Math.round(ops / seconds), framesPerSec: Math.round((rounds * frames.length) / seconds), framesPerCpuSec: Math.round((rounds * frames.length) / cpu) }
}

const generated = await workload()
const sets = [
  { name: 'all frames', frames: generated.map((f) => f.bytes) },
  { name: '#commit frames', frames: generated.map((f) => f.bytes).filter((bytes) => frameParts(bytes).type === '#commit') },
]
const decoders = [createLeanDecoder(), createSyncDecoder(), createVerifiedDecoder(workloadResolver(accountsOf(generated)))]
for (const { name, frames } of sets) {
  console.log(`${name} (${frames.length})`)
  for (const decoder of decoders) {
    const { opsPerSec, framesPerSec, framesPerCpuSec } = await measure(decoder, frames)
    const n = (v: number) => v.toLocaleString('en-US').padStart(9)
    console.log(`  ${decoder.name.padEnd(8)} ${n(opsPerSec)} ops/s  ${n(framesPerSec)} frames/s  ${n(framesPerCpuSec)} frames/CPU-s`)
  }
}
