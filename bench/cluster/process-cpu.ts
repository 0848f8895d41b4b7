// CPU time that processes have used, from /proc/<pid>/stat (Linux): utime + stime of all their
// threads, in clock ticks, turned into milliseconds.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** What glibc reports on every Linux kind this runs on; used only when getconf is missing. */
const fallbackClockTicksPerSecond = 100

let ticksPerSecond: number | undefined

/** USER_HZ, the unit of utime and stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    } catch {
      ticksPerSecond = fallbackClockTicksPerSecond
    }
    if (!Number.isInteger(ticksPerSecond) || ticksPerSecond <= 0) throw new Error(`getconf CLK_TCK answered ${ticksPerSecond}, not a positive whole number`)
  }
  return ticksPerSecond
}

/** utime + stime of one process in ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 of the line are utime and stime; fields[0] is field 3 (state).
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`Unexpected /proc/${pid}/stat: ${stat}`)
  return ((utime + stime) * 1000) / clockTicksPerSecond()
}

/** Total utime + stime of the processes in ms. */
export function totalCpuMs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0)
}
