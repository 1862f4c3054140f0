/**
 * Passing a request through unchanged: the client's method, path, query, body and
 * end-to-end headers (Accept, Authorization, Range ...) go to the upstream URL; the
 * upstream's status, headers and body come back as they are (redirects included, unless
 * the caller asks to follow them). Used for `/v2/`, manifests, token endpoints, and every
 * request a rule sends direct.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { UpstreamClient } from './upstream-client.js'
import { clientResponseHeaders } from './forwarded-headers.js'

/** One pass-through. */
export interface PassThroughRequest {
  readonly url: URL
  /** End-to-end headers to send (see forwarded-headers.ts). */
  readonly headers: Readonly<Record<string, string | string[]>>
  /** Follow redirects upstream instead of returning them (blob fallbacks). Default 0. */
  readonly maxRedirects?: number
  /** Also keep a copy of the answer's body when it is at most this many bytes (manifests, for prefetch). */
  readonly keepBodyBytes?: number
}

/**
 * Relays `req` to the upstream and the answer to `res`. Resolves with the answer's status
 * and Content-Type (and its body, with `keepBodyBytes`, when no longer) when the response is
 * finished; rejects (after aborting `res` if its headers left) when the upstream fails.
 * @throws DF_ERR_PROXY_UPSTREAM_UNREACHABLE when the upstream gives no answer
 */
export async function passThrough (upstream: Pick<UpstreamClient, 'exchange'>, req: IncomingMessage, res: ServerResponse, request: PassThroughRequest): Promise<{ status: number, contentType: string | undefined, body?: Buffer }> {
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD' && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)
  const abort = new AbortController()
  const onClose = (): void => { if (!res.writableFinished) abort.abort() }
  res.once('close', onClose)
  try {
    const answer = await upstream.exchange({
      method,
      url: request.url,
      headers: request.headers,
      ...(hasBody ? { body: req } : {}),
      maxRedirects: request.maxRedirects ?? 0,
      signal: abort.signal,
    })
    res.writeHead(answer.status, clientResponseHeaders(answer.headers))
    const contentType = answer.headers['content-type']
    const relayed = { status: answer.status, contentType: typeof contentType === 'string' ? contentType : undefined }
    if (method === 'HEAD') {
      answer.body.resume()
      res.end()
      return relayed
    }
    const kept = request.keepBodyBytes === undefined ? undefined : keepBody(answer.body, request.keepBodyBytes)
    await pipeline(answer.body, res)
    const body = kept?.()
    return body === undefined ? relayed : { ...relayed, body }
  } catch (err) {
    if (res.headersSent) res.destroy()
    throw err
  } finally {
    res.off('close', onClose)
  }
}

/** Copies the chunks of `body` as they pass (up to `limitBytes`); the returned function gives them joined, or undefined when the body was longer. */
function keepBody (body: Readable, limitBytes: number): () => Buffer | undefined {
  let chunks: Buffer[] | undefined = []
  let length = 0
  const onData = (chunk: Buffer): void => {
    length += chunk.length
    if (length > limitBytes) {
      chunks = undefined
      body.off('data', onData)
    } else {
      chunks?.push(chunk)
    }
  }
  body.on('data', onData)
  return () => chunks === undefined ? undefined : Buffer.concat(chunks)
}
