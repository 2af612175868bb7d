// Whether a process of this host runs under a pid: signal 0 checks without sending anything, and a process this
// user may not signal (EPERM) runs all the same.
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
