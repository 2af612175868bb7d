// Reads what the kernel knows about a process and the machine, from /proc (Linux only): CPU time (utime+stime of
// every thread), resident memory now and at its peak, and the whole machine's busy time, so a run can tell its own
// cost from what other processes on a shared machine were doing meanwhile.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'

let clockTicks: number | null = null

/** Clock ticks per second (USER_HZ), the unit of the CPU times in /proc/<pid>/stat. */
export function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number, tid?: number): string[] | null {
  let text: string
  try {
    text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
  } catch {
    return null
  }
  const end = text.lastIndexOf(')')
  // Field 3 (state) is the first after the name; the array index of field n is therefore n - 3.
  return text.slice(end + 2).trim().split(/\s+/)
}

export type ProcCpu = { userS: number; systemS: number; childrenS: number; ppid: number }

/** CPU seconds the process used (all threads), and those of its reaped children; null once it is gone. */
export function processCpu(pid: number): ProcCpu | null {
  const f = statFields(pid)
  if (!f) return null
  const hz = ticksPerSecond()
  return {
    ppid: Number(f[4 - 3]),
    userS: Number(f[14 - 3]) / hz,
    systemS: Number(f[15 - 3]) / hz,
    childrenS: (Number(f[16 - 3]) + Number(f[17 - 3])) / hz,
  }
}

/** CPU seconds of the process's main thread alone (for node: the event loop; GC helpers and libuv are others). */
export function mainThreadCpuSeconds(pid: number): number | null {
  const f = statFields(pid, pid)
  if (!f) return null
  return (Number(f[14 - 3]) + Number(f[15 - 3])) / ticksPerSecond()
}

export function cpuSeconds(pid: number): number | null {
  const c = processCpu(pid)
  return c ? c.userS + c.systemS : null
}

/**
 * CPU seconds of a process tree one level deep: the parent with its reaped children, plus its live children. A
 * backend that exits between two readings moves from the second term to the first, so differences stay right.
 * Used for the Postgres postmaster and its backends.
 */
export function treeCpuSeconds(parentPid: number): number | null {
  const parent = processCpu(parentPid)
  if (!parent) return null
  let total = parent.userS + parent.systemS + parent.childrenS
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === parentPid) continue
    const c = processCpu(pid)
    if (c && c.ppid === parentPid) total += c.userS + c.systemS
  }
  return total
}

export type ProcMemory = { rssMb: number; hwmMb: number }

/** VmRSS (now) and VmHWM (the peak since the process started), in MiB; null once the process is gone. */
export function processMemory(pid: number): ProcMemory | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return null
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 }
}

/** Busy and total CPU seconds of the whole machine, over all cores, since boot. */
export function machineCpu(): { busyS: number; totalS: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const [, ...values] = line.trim().split(/\s+/)
  const n = values.map(Number)
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = n[3] + n[4]
  const hz = ticksPerSecond()
  return { busyS: (total - idle) / hz, totalS: total / hz }
}

export function machineInfo() {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8')
    } catch {
      return ''
    }
  })()
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown'
  return {
    cpuModel: model,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    nodeVersion: process.version,
  }
}
