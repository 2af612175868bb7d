// Child process for the spill-file exit test: opens a spilled repository CAR, reports what the spill folder and
// its own descriptors hold, and dies by SIGKILL without close(), as a process killed mid-walk would.
//   node --import tsx test/support/spill-exit-child.ts <spillDir>
import { readdirSync } from 'node:fs'
import { Readable } from 'node:stream'
import { Secp256k1Keypair } from '@atproto/crypto'
import { openRepoCar } from '../../server/repos/repo-car.js'
import { openUnlinkedFilesIn } from './open-spill-files.js'
import { buildRepoCar } from './repo-car-builder.js'

const spillDir = process.argv[2]
const did = 'did:plc:spillexitaaaaaaaaaaaaaaa'
const records = Array.from({ length: 50 }, (_, i) => ({
  key: `app.bsky.feed.post/3l${String(i).padStart(11, 'a')}`,
  record: { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: '2025-01-01T00:00:00.000Z' },
}))
const repo = await buildRepoCar({ did, keypair: await Secp256k1Keypair.create(), rev: '3lbaaaaaaaaa2', records })
const car = await openRepoCar(Readable.from([repo.bytes]), {
  did,
  maxCarBytes: 1_000_000,
  spillDir,
  spillAboveBytes: 1000,
  verifyKey: null,
  partial: false,
})
const report = { spilled: car.spilled, files: readdirSync(spillDir).length, open: openUnlinkedFilesIn(spillDir) }
process.stdout.write(`${JSON.stringify(report)}\n`, () => process.kill(process.pid, 'SIGKILL'))
