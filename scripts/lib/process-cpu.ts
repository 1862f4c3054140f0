/** CPU time of a process we started, from /proc (Linux). */
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const CLOCK_TICKS_PER_SEC = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** User + system CPU milliseconds the process has used so far. */
export async function processCpuMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1000 / CLOCK_TICKS_PER_SEC
}

/**
 * User + system CPU milliseconds of this process's children that ended and were waited for
 * (cutime + cstime of /proc/self/stat): the difference around a child's run is that child's
 * CPU, whatever else the machine did meanwhile.
 */
export async function endedChildrenCpuMs (): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) * 1000 / CLOCK_TICKS_PER_SEC
}
