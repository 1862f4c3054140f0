/**
 * The fuzz of every surface that takes outside input (issue 16): what a surface is, how one
 * answer is judged, and the runner that feeds a surface generated inputs (fast-check
 * arbitraries) and counts what came back.
 *
 * A surface is a real server or parser set up by the fuzz (servers in this process, on
 * loopback port 0 or a Unix socket in a temp dir), its input arbitrary, and `send`, which
 * delivers one input and reports the answer as an `Outcome`. The property for every input:
 * no crash (no exception that is not a DfError, no reset connection, no unhandled
 * rejection), and every refusal a documented one — an error answer carries a `DF_ERR_*`
 * code of protocol/errors.ts, and a 5xx only with its table status and never
 * DF_ERR_INTERNAL*. After the run the server must still answer a health request.
 */
import fc from 'fast-check'
import { ERROR_CODES, isErrorCode } from '../../src/protocol/errors.js'

/** What one input got. */
export interface Outcome {
  /** HTTP status, or for parsers 0 (accepted) and the error's table status (refused). */
  readonly status: number
  /** The DF_ERR_* code of a refusal. */
  readonly code?: string | undefined
  /** Set when the input broke the property: what went wrong. */
  readonly violation?: { readonly kind: 'crash' | 'undocumented', readonly detail: string } | undefined
  /** The input never reached the server: the client itself refused to send it (not counted). */
  readonly notSent?: boolean
}

/** A surface set up and ready for inputs. */
export interface SurfaceInstance<T> {
  readonly arbitrary: fc.Arbitrary<T>
  send(input: T): Promise<Outcome>
  /** @throws when the server no longer answers its health request */
  checkHealth(): Promise<void>
  close(): Promise<void>
}

export interface FuzzSurface {
  readonly name: string
  readonly title: string
  /** Inputs in flight at once in a full run (1 for parsers). */
  readonly concurrency: number
  setUp(): Promise<SurfaceInstance<unknown>>
}

/** Declares a surface, keeping its input type between the arbitrary and `send`. */
export function defineSurface<T> (surface: { name: string, title: string, concurrency: number, setUp(): Promise<SurfaceInstance<T>> }): FuzzSurface {
  return surface as FuzzSurface // SurfaceInstance<T> is used only with its own arbitrary's values
}

const INTERNAL_CODES = new Set(['DF_ERR_INTERNAL', 'DF_ERR_INTERNAL_INVARIANT'])

/**
 * Judges one HTTP answer of a server of ours. `judgeClientErrors`: a 4xx must carry a
 * DF_ERR_* code too (false where 4xx answers may come from an upstream passed through).
 */
export function judgeHttpAnswer (status: number, bodyText: string, options: { judgeClientErrors: boolean, hasBody: boolean }): Outcome {
  if (status < 400) return { status }
  if (!options.hasBody) {
    // A HEAD answer shows no code: a 5xx is judged by its status alone (500 is only ever
    // DF_ERR_INTERNAL* on these servers; other 5xx statuses belong to documented codes).
    if (status === 500) return { status, violation: { kind: 'undocumented', detail: '500 (HEAD, no body)' } }
    return { status, ...(status >= 500 ? { code: `HEAD ${status}` } : {}) }
  }
  let code: unknown
  try { code = (JSON.parse(bodyText) as { code?: unknown } | null)?.code } catch { code = undefined }
  const known = isErrorCode(code) ? code : undefined
  if (status >= 500) {
    if (known === undefined) return { status, violation: { kind: 'undocumented', detail: `${status} without a DF_ERR_* code: ${bodyText.slice(0, 160)}` } }
    if (INTERNAL_CODES.has(known)) return { status, code: known, violation: { kind: 'undocumented', detail: `${status} ${known}` } }
    if (ERROR_CODES[known].httpStatus !== status) return { status, code: known, violation: { kind: 'undocumented', detail: `${known} answered with ${status}, its table status is ${ERROR_CODES[known].httpStatus}` } }
    return { status, code: known }
  }
  if (options.judgeClientErrors && known === undefined) return { status, violation: { kind: 'undocumented', detail: `${status} without a DF_ERR_* code: ${bodyText.slice(0, 160)}` } }
  return { status, ...(known === undefined ? {} : { code: known }) }
}

/** Judges a parser's refusal: a DfError of the table (not internal) is documented, anything else a crash. */
export function judgeThrown (err: unknown, allowedCodes?: ReadonlySet<string>): Outcome {
  const code = (err as { code?: unknown } | null)?.code
  if (err instanceof Error && err.name === 'DfError' && isErrorCode(code)) {
    if (INTERNAL_CODES.has(code) || (allowedCodes !== undefined && !allowedCodes.has(code))) {
      return { status: ERROR_CODES[code].httpStatus, code, violation: { kind: 'undocumented', detail: `${code}: ${err.message.slice(0, 160)}` } }
    }
    return { status: ERROR_CODES[code].httpStatus, code }
  }
  return { status: 0, violation: { kind: 'crash', detail: err instanceof Error ? `${err.name}: ${err.message.slice(0, 200)}` : String(err) } }
}

/** What a run of one surface found. */
export interface SurfaceReport {
  readonly name: string
  readonly title: string
  /** Inputs that reached the surface. */
  readonly inputs: number
  /** Inputs the client refused to send (malformed at the HTTP level), not counted in `inputs`. */
  readonly notSent: number
  readonly crashes: number
  readonly undocumented: number
  /** Answers by status. */
  readonly statuses: Readonly<Record<string, number>>
  /** 5xx answers by code (documented ones; undocumented are counted above). */
  readonly serverErrorsByCode: Readonly<Record<string, number>>
  /** The first few violations, each with the input that caused it (JSON). */
  readonly examples: readonly { readonly detail: string, readonly input: string }[]
  readonly healthy: boolean
  readonly durationMs: number
  readonly seed: number
}

/**
 * Feeds `runs` generated inputs to the surface (`concurrency` in flight), counting
 * answers and violations, then checks its health. Inputs are drawn in batches with
 * `fc.sample` from `seed`, so a run replays.
 */
export async function runSurface (surface: FuzzSurface, options: { runs: number, seed: number, onProgress?: (done: number) => void }): Promise<SurfaceReport> {
  const started = performance.now()
  const instance = await surface.setUp()
  const statuses: Record<string, number> = {}
  const serverErrorsByCode: Record<string, number> = {}
  const examples: { detail: string, input: string }[] = []
  let inputs = 0
  let notSent = 0
  let crashes = 0
  let undocumented = 0
  const processFaults: string[] = []
  const onFault = (err: unknown): void => { processFaults.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err)) }
  process.on('unhandledRejection', onFault)
  process.on('uncaughtException', onFault)
  let healthy = false
  try {
    const batchSize = 1000
    for (let batch = 0; batch * batchSize < options.runs; batch++) {
      const count = Math.min(batchSize, options.runs - batch * batchSize)
      const values = fc.sample(instance.arbitrary, { numRuns: count, seed: options.seed + batch })
      let next = 0
      await Promise.all(Array.from({ length: Math.max(1, surface.concurrency) }, async () => {
        while (next < values.length) {
          const input = values[next++]
          let outcome: Outcome
          try {
            outcome = await instance.send(input)
          } catch (err) {
            outcome = { status: 0, violation: { kind: 'crash', detail: `send threw ${err instanceof Error ? err.message : String(err)}` } }
          }
          if (outcome.notSent === true) { notSent += 1; continue }
          inputs += 1
          statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1
          if (outcome.violation !== undefined) {
            if (outcome.violation.kind === 'crash') crashes += 1
            else undocumented += 1
            if (examples.length < 5) examples.push({ detail: outcome.violation.detail, input: describeInput(input) })
          } else if (outcome.status >= 500 && outcome.code !== undefined) {
            serverErrorsByCode[outcome.code] = (serverErrorsByCode[outcome.code] ?? 0) + 1
          }
        }
      }))
      options.onProgress?.(inputs + notSent)
    }
    try {
      await instance.checkHealth()
      healthy = true
    } catch (err) {
      examples.push({ detail: `health check failed: ${err instanceof Error ? err.message : String(err)}`, input: '' })
    }
  } finally {
    process.off('unhandledRejection', onFault)
    process.off('uncaughtException', onFault)
    await instance.close()
  }
  crashes += processFaults.length
  for (const fault of processFaults.slice(0, 3)) examples.push({ detail: `unhandled in the process: ${fault}`, input: '' })
  return {
    name: surface.name, title: surface.title, inputs, notSent, crashes, undocumented, statuses, serverErrorsByCode, examples: examples.slice(0, 8), healthy,
    durationMs: Math.round(performance.now() - started), seed: options.seed,
  }
}

/** An input as JSON for a report (Buffers as base64), cut to a readable length. */
export function describeInput (input: unknown): string {
  const text = JSON.stringify(input, (_key, value: unknown) => {
    if (value instanceof Uint8Array) return `base64:${Buffer.from(value).toString('base64')}`
    return value
  }) ?? String(input)
  return text.length > 600 ? `${text.slice(0, 600)}…` : text
}
