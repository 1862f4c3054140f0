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
]

export function createLogger (options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(options.name === undefined ? {} : { name: options.name }),
  }
  return pino(base, options.destination ?? pino.destination({ fd: 2, sync: false }))
}

/** A logger that drops everything (tests and library callers that pass none). */
export function createSilentLogger (): Logger {
  return pino({ level: 'silent' })
}
