/**
 * The pino logger factory. Loggers are built by composition roots and injected; there is
 * no module-level logger. Secrets (authorization headers, cookies, tokens) are redacted.
 */
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

export interface LoggerOptions {
  readonly level?: string
  /** Where records go; default stderr (stdout belongs to data in `dfget -o -`). */
  readonly destination?: DestinationStream
  readonly name?: string
}

/** Paths redacted from every record. */
export const REDACT_PATHS = [
  'headers.authorization', 'headers.Authorization', 'headers.cookie', 'headers.Cookie',
  'headers["proxy-authorization"]', 'token', '*.token', 'req.headers.authorization', 'req.headers.cookie',
  // A piece grant opens a task's pieces until it expires (protocol/piece-grant.ts).
  'headers["x-damselfly-grant"]', 'req.headers["x-damselfly-grant"]', 'grant', '*.grant',
]

/** A synchronous destination: a file descriptor (1, 2), or a file, its directory made when missing. */
export function syncDestination (to: { readonly fd: number } | { readonly path: string }): DestinationStream {
  return 'fd' in to ? pino.destination({ fd: to.fd, sync: true }) : pino.destination({ dest: to.path, sync: true, mkdir: true })
}

export function createLogger (options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(options.name === undefined ? {} : { name: options.name }),
  }
  return pino(base, options.destination ?? pino.destination({ fd: 2, sync: false }))
}

/**
 * Ends the logger's destination before the process exits: waits (at most `timeoutMs`) until
 * what it holds is written and the stream closed, or its write failed. Without this, pino's
 * synchronous flush at exit writes what is still queued, and sonic-boom retries a broken
 * pipe (the reader of stderr died: EPIPE) every 100 ms for ever — the process never exits.
 * Once the asynchronous write has failed, pino knows the pipe is gone and its flush at exit
 * does nothing.
 */
export async function flushLogs (logger: Logger, timeoutMs = 2_000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as (NodeJS.EventEmitter & { end?: () => void }) | undefined
  if (stream?.end === undefined) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      stream.off('close', done)
      stream.off('error', done)
      resolve()
    }
    const timer = setTimeout(done, timeoutMs)
    stream.once('close', done)
    stream.once('error', done)
    stream.end?.()
  })
}

/** A logger that drops everything (tests and library callers that pass none). */
export function createSilentLogger (): Logger {
  return pino({ level: 'silent' })
}
