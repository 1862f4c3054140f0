/**
 * The client's stdout pipe, written by the agent itself (Linux): with `-o -` and a pipe on
 * dfget's stdout (`dfget --stream -o - | tar x`), the client names the pipe in its request
 * (its pid and the pipe's device and inode), and the agent opens the same pipe through
 * `/proc/<pid>/fd/1` and writes the bytes there. Before, every byte went agent → socket →
 * client → pipe: a second copy, and a second process woken per chunk (on loopback the relay
 * cost the client ~1.3 CPU-s per 512 MiB and held stream mode at 0.67× file mode).
 *
 * The agent takes the pipe only when it is the one the client named (a FIFO with the same
 * device and inode: a pid of another PID namespace, or a pid reused meanwhile, names another
 * file) and the process is its own user's (`/proc/<pid>` owned by the agent's uid: an agent
 * running as another user, root included, does not write into a process it could not reach
 * as that user). Anything else — no /proc, a file or a socket on stdout, another user — and
 * the bytes are relayed as before. The client keeps its own stdout open and writes nothing
 * to it; the agent closes its end before it reports the result, so the pipe's reader sees
 * the end of the data once dfget exits.
 */
import { closeSync, constants, fstat, fstatSync, open, stat } from 'node:fs'
import { Socket } from 'node:net'
import { promisify } from 'node:util'

/** What the client's request names: its stdout, when that is a pipe. */
export interface StdoutPipe {
  readonly pid: number
  readonly dev: number
  readonly ino: number
}

/** The client's stdout as a StdoutPipe, or undefined when it is no pipe (a file, a socket, a terminal) or not on Linux. */
export function describeStdoutPipe (): StdoutPipe | undefined {
  if (process.platform !== 'linux') return undefined
  try {
    const stats = fstatSync(1)
    return stats.isFIFO() ? { pid: process.pid, dev: stats.dev, ino: stats.ino } : undefined
  } catch {
    return undefined
  }
}

/** A StdoutPipe from a request's field, or undefined when the field is absent or not one. */
export function parseStdoutPipe (value: unknown): StdoutPipe | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { pid, dev, ino } = value as Record<string, unknown>
  const isId = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
  return isId(pid) && pid > 0 && isId(dev) && isId(ino) ? { pid, dev, ino } : undefined
}

/**
 * Opens the named pipe for writing, as a socket (non-blocking, with back-pressure); undefined
 * when it cannot be taken (see the module header). The caller destroys it when done.
 */
export async function openStdoutPipe (pipe: StdoutPipe): Promise<Socket | undefined> {
  if (process.platform !== 'linux') return undefined
  try {
    const owner = await promisify(stat)(`/proc/${pipe.pid}`)
    if (owner.uid !== process.getuid?.()) return undefined
    // O_NONBLOCK: a pipe without a reader fails at once (ENXIO) instead of blocking the open.
    const fd = await promisify(open)(`/proc/${pipe.pid}/fd/1`, constants.O_WRONLY | constants.O_NONBLOCK)
    const stats = await promisify(fstat)(fd).catch(() => undefined)
    if (stats === undefined || !stats.isFIFO() || stats.dev !== pipe.dev || stats.ino !== pipe.ino) {
      closeSync(fd)
      return undefined
    }
    return new Socket({ fd, readable: false, writable: true })
  } catch {
    return undefined
  }
}

