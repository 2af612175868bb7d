// Spill files are unlinked as soon as they are open, so a test finds them through this process's descriptors
// (Linux /proc), not in the spill folder.
import { readdirSync, readlinkSync } from 'node:fs'

/** How many files this process holds open that were created in `dir` and are unlinked. */
export function openUnlinkedFilesIn(dir: string): number {
  let count = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      continue
    }
    if (target.startsWith(`${dir}/`) && target.endsWith(' (deleted)')) count++
  }
  return count
}
