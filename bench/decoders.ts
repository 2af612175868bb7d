// `npm run bench:decoders`: throughput of each decoder on a generated workload, printed for the record.
import type { FrameDecoder } from '../server/pipeline/decoder/types.js'
import { createLeanDecoder } from '../server/pipeline/decoder/lean.js'
import { createSyncDecoder } from '../server/pipeline/decoder/sync.js'
import { createVerifiedDecoder } from '../server/pipeline/decoder/verified.js'
import { accountsOf, workload, workloadResolver } from '../test/unit/decoder/workload.js'

const MIN_MEASURED_MS = 1500

async function measure(decoder: FrameDecoder, frames: Uint8Array[]): Promise<{ opsPerSec: number; framesPerSec: number }> {
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
  while (performance.now() - started < MIN_MEASURED_MS) {
    await round()
    rounds++
  }
  const seconds = (performance.now() - started) / 1000
  return { opsPerSec: Math.round(ops / seconds), framesPerSec: Math.round((rounds * frames.length) / seconds) }
}

const generated = await workload()
const frames = generated.map((f) => f.bytes)
const decoders = [createLeanDecoder(), createSyncDecoder(), createVerifiedDecoder(workloadResolver(accountsOf(generated)))]
for (const decoder of decoders) {
  const { opsPerSec, framesPerSec } = await measure(decoder, frames)
  console.log(`${decoder.name.padEnd(8)} ${opsPerSec.toLocaleString('en-US').padStart(9)} ops/s  ${framesPerSec.toLocaleString('en-US').padStart(9)} frames/s`)
}
