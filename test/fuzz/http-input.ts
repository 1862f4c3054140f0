/**
 * HTTP inputs of the fuzz: arbitraries for methods, path segments, query strings, header
 * values and JSON bodies, and `sendHttp`, which sends one over a real keep-alive connection
 * pool (undici) and judges the answer (fuzz-surface.ts).
 */
import fc from 'fast-check'
import { Pool, errors as undiciErrors } from 'undici'
import { judgeHttpAnswer, type Outcome } from './fuzz-surface.js'

/** One HTTP request. */
export interface HttpInput {
  readonly method: string
  /** Path and query, starting with "/". */
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string | undefined
}

export const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const

/** Text that a header value may carry on the wire (printable ASCII, tab, latin-1). */
export const headerText = (maxLength = 80): fc.Arbitrary<string> => fc.string({ unit: fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\u00e9', '\u00ff') },
), maxLength })

/** A path segment: tricky constants, ids, numbers and random text, percent-encoded or raw. */
export function pathSegment (known: readonly string[] = []): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%ff', '%', '~', 'a'.repeat(300), '0', '-1', '1e9', 'null', 'undefined', '__proto__', 'constructor', ...known) },
    { weight: 2, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: -5, max: 1 << 30 }), fc.integer({ min: -5, max: 1 << 30 })).map(([a, b]) => `${a}-${b}`) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => encodeURIComponent(s)) },
    { weight: 2, arbitrary: fc.string({ maxLength: 20 }).map((s) => s.replace(/[^!$&'()*+,;=:@A-Za-z0-9._~-]/g, '')) },
  )
}

/** A query string (without "?"): known names with tricky values, and random pairs. */
export function queryString (names: readonly string[]): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.constantFrom('', '0', '-1', '1', '4', '100', '99999999999', 'NaN', 'x', '1.5', 'true', '%00', 'a'.repeat(600)),
    fc.integer({ min: -10, max: 40_000 }).map(String),
    fc.string({ unit: 'binary', maxLength: 30 }).map((s) => encodeURIComponent(s)),
  )
  const pair = fc.tuple(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 8 }).map((s) => encodeURIComponent(s))), value).map(([k, v]) => `${k}=${v}`)
  return fc.array(pair, { maxLength: 4 }).map((pairs) => pairs.join('&'))
}

/** A JSON body: the given record arbitrary most of the time, else anything (bad JSON, arrays, huge strings, wrong types). */
export function jsonBody (record: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: record.map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '[]', 'null', '"x"', '{"__proto__":{"x":1}}', '{"a":1,"a":2}', `{"url":"${'a'.repeat(70_000)}"}`, '\u0000', '{"constructor":{"prototype":{}}}') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  )
}

/** Values that look like fields of our messages but are often wrong: the core of body records. */
export const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.integer({ min: -2, max: 1 << 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 1.5, -0, 1e308, Number.MAX_SAFE_INTEGER + 2, [], {}, ['x'], { $gt: '' }, 'a'.repeat(5000)) },
)

/** Sends HTTP inputs to one server over a keep-alive pool. */
export class HttpSender {
  readonly #pool: Pool
  readonly #judgeClientErrors: boolean

  constructor (baseUrl: string, options: { connections: number, judgeClientErrors?: boolean }) {
    this.#pool = new Pool(baseUrl, { connections: options.connections, keepAliveTimeout: 10_000, headersTimeout: 40_000, bodyTimeout: 40_000 })
    this.#judgeClientErrors = options.judgeClientErrors ?? true
  }

  async send (input: HttpInput): Promise<Outcome> {
    let response
    try {
      response = await this.#pool.request({
        method: input.method,
        path: input.path,
        headers: input.headers,
        ...(input.body === undefined || input.method === 'GET' || input.method === 'HEAD' ? {} : { body: input.body }),
      })
    } catch (err) {
      if (err instanceof undiciErrors.InvalidArgumentError) return { status: 0, notSent: true }
      return { status: 0, violation: { kind: 'crash', detail: `request failed: ${err instanceof Error ? `${(err as { code?: string }).code ?? err.name} ${err.message}` : String(err)}` } }
    }
    let text: string
    try {
      text = await response.body.text()
    } catch (err) {
      return { status: response.statusCode, violation: { kind: 'crash', detail: `answer cut short: ${err instanceof Error ? err.message : String(err)}` } }
    }
    return judgeHttpAnswer(response.statusCode, text, { judgeClientErrors: this.#judgeClientErrors, hasBody: input.method !== 'HEAD' })
  }

  async close (): Promise<void> {
    await this.#pool.destroy()
  }
}
