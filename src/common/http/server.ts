/**
 * Creating, listening and closing our HTTP servers (fastify), with the single error
 * boundary: a DfError becomes its status and `{ code, message, details? }`; a schema
 * validation failure becomes 400 DF_ERR_ARG_INVALID naming the field; an unknown route 404
 * DF_ERR_ARG_ROUTE_NOT_FOUND; a request fastify cannot route (a path that is no valid URL
 * component) 400 DF_ERR_ARG_INVALID; anything else 500 DF_ERR_INTERNAL, logged once with its
 * stack, its message never sent. Every request has an id — the caller's `X-Request-Id` when
 * it sends one, else a sequence number — logged as `reqId` with each record of the request
 * and echoed in the `X-Request-Id` response header, so one exchange can be followed across
 * logs.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyError, type FastifyReply } from 'fastify'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { DfError, toWire } from '../../protocol/errors.js'

export interface HttpServerOptions {
  readonly logger: Logger
  /** Largest request body accepted. Default 1 MiB. */
  readonly bodyLimitBytes?: number
  /** Serve HTTPS with this PEM key and certificate (chain). */
  readonly tls?: { readonly key: string | Buffer, readonly cert: string | Buffer }
}

/** A fastify instance wired with our error boundary. Routes are added by the caller. */
export function createHttpServer (options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only widens the generic parameter.
    loggerInstance: options.logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    forceCloseConnections: true,
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    keepAliveTimeout: 5_000,
    requestIdHeader: 'x-request-id',
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
    // Errors fastify meets before routing (a path that is no valid URL component, such as
    // "/tasks/%ff"): a 400 in our shape, like every other bad request.
    frameworkErrors: (err, _request, reply) => {
      // The reply's generic (route-less) types name no status codes; it is a plain reply.
      void (reply as unknown as FastifyReply).status(400).send(toWire(new DfError('DF_ERR_ARG_INVALID', err.message, { details: { field: 'url', fastifyCode: err.code } })))
    },
    // An https server takes the same handler and routes; fastify's types name only http.
    ...(options.tls === undefined ? {} : { https: { key: options.tls.key, cert: options.tls.cert } } as object),
  })
  app.setErrorHandler((err: FastifyError | DfError, request, reply) => {
    if (err instanceof DfError) {
      if (err.httpStatus >= 500) request.log.error({ err }, 'request failed')
      else request.log.debug({ code: err.code, message: err.message }, 'request rejected')
      return reply.status(err.httpStatus).send(toWire(err))
    }
    if (err.validation !== undefined) {
      const first = err.validation[0]
      const place = err.validationContext ?? 'request'
      const path = first?.instancePath.replaceAll('/', '.') ?? ''
      const missing = typeof first?.params.missingProperty === 'string' ? `.${first.params.missingProperty}` : ''
      const extra = typeof first?.params.additionalProperty === 'string' ? `.${first.params.additionalProperty}` : ''
      const field = `${place}${path}${missing}${extra}`
      const problem = extra !== '' ? 'unknown field' : first?.message ?? 'invalid'
      return reply.status(400).send(toWire(new DfError('DF_ERR_ARG_INVALID', `${field}: ${problem}`, { details: { field } })))
    }
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      // fastify's own client errors: bad JSON, body too large, wrong content type.
      return reply.status(status).send(toWire(new DfError('DF_ERR_ARG_INVALID', err.message, { details: { field: 'body', fastifyCode: err.code ?? null } })))
    }
    request.log.error({ err }, 'internal error')
    return reply.status(500).send({ code: 'DF_ERR_INTERNAL', message: 'internal error' })
  })
  app.addHook('onRequest', async (request, reply) => { void reply.header('x-request-id', request.id) })
  app.setNotFoundHandler((request, reply) => {
    return reply.status(404).send(toWire(new DfError('DF_ERR_ARG_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)))
  })
  return app
}

/** Listens and returns the bound address (port 0 picks a free port). */
export async function listenHttpServer (app: FastifyInstance, host: string, port: number): Promise<AddressInfo> {
  await app.listen({ host, port })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'server has no TCP address')
  return address
}

// Kept here for callers that build servers; the function lives in base-url.ts so that
// clients can use it without loading fastify.
export { formatBaseUrl } from './base-url.js'
