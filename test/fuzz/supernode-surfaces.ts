/**
 * Fuzz surfaces of the supernode (a real Supernode in this process, API and download port
 * on loopback, sources restricted to 127.0.0.1 so no generated URL leaves the machine):
 *
 * - `supernode-api`: every route of the API with generated methods, path parameters, query
 *   strings, headers and JSON bodies shaped like each route's messages (registrations of
 *   the origin's public and private files among them, so handlers run deep).
 * - `supernode-data`: the download port's `/tasks/{taskId}/data` with generated task ids,
 *   Range headers and piece grants (valid, for another task, expired, forged, garbage).
 */
import fc from 'fast-check'
import { generateKeyPairSync } from 'node:crypto'
import { SUPERNODE_DATA_PATHS, SUPERNODE_PATHS } from '../../src/protocol/paths.js'
import { PIECE_GRANT_HEADER, signPieceGrant } from '../../src/protocol/piece-grant.js'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTestData, startOrigin } from '../harness/origin.js'
import { startTestSupernode } from '../harness/supernode.js'
import type { SupernodeClient } from '../../src/supernode/client.js'
import { defineSurface, type SurfaceInstance } from './fuzz-surface.js'
import { fieldValue, headerText, HttpSender, jsonBody, METHODS, pathSegment, queryString, type HttpInput } from './http-input.js'

const PRIVATE_AUTH = 'Basic ZnV6ejpmdXp6'
const FILE_BYTES = 48 * 1024

/** An origin with a public and a private file, and a supernode that may fetch only from 127.0.0.1. */
async function startSwarmCore (stack: CloseStack): Promise<{ apiUrl: string, downloadUrl: string, publicUrl: string, privateUrl: string, client: SupernodeClient, ping: () => Promise<void> }> {
  const origin = stack.push(await startOrigin({
    files: {
      // Small files (one piece each): the fuzz is about the requests, not about moving bytes.
      '/public.bin': { data: createTestData(FILE_BYTES, 1601) },
      '/private.bin': { data: createTestData(FILE_BYTES + 3, 1602), requireAuthorization: PRIVATE_AUTH },
    },
  }))
  const sn = stack.push(await startTestSupernode(undefined, { sourceAllow: ['127.0.0.1'], accessCheckTtlMs: 5_000, sourceTimeoutMs: 3_000, taskExpireTimeMs: 60_000 }))
  return { apiUrl: sn.apiUrl, downloadUrl: sn.downloadUrl, publicUrl: origin.url('/public.bin'), privateUrl: origin.url('/private.bin'), client: sn.client, ping: async () => { await sn.client.ping() } }
}

const names = fc.oneof(fc.constantFrom('peer-a', 'peer-b', 'cid-1', 'cid-2', 'supernode', ''), fc.string({ maxLength: 12 }), fc.stringMatching(/^[A-Za-z0-9_.-]{1,70}$/))

function apiInput (urls: readonly string[]): fc.Arbitrary<HttpInput> {
  const url = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...urls) },
    { weight: 1, arbitrary: fc.constantFrom('http://127.0.0.1:1/x', 'http://localhost/x', 'file:///etc/passwd', 'ftp://127.0.0.1/x', 'http://[::1]:1/', 'http://127.0.0.1:1/%zz', 'HTTP://127.0.0.1:1/a b', 'http://user:pass@127.0.0.1:1/') },
    { weight: 1, arbitrary: fc.webUrl().map((u) => u.replace(/^(https?:\/\/)[^/]+/, '$1127.0.0.1:1')) },
    { weight: 1, arbitrary: fieldValue },
  )
  const headers = fc.oneof(
    fc.constant({ Authorization: PRIVATE_AUTH }),
    fc.dictionary(fc.oneof(fc.constantFrom('Authorization', 'Range', 'Connection', 'X-Token', 'Host', 'Cookie'), fc.string({ maxLength: 12 })), fc.oneof(headerText(40), fc.constantFrom('bytes=0-9', 'a\r\nb: c', '\u0000')), { maxKeys: 3 }),
    fieldValue,
  )
  const registerTask = fc.record({ peerId: names, cid: names, url, headers, md5: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fieldValue), identifier: fieldValue, filter: fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fieldValue), digest: fc.oneof(fc.stringMatching(/^sha256:[0-9a-f]{64}$/), fieldValue), windowPieces: fieldValue, heldPieces: fc.oneof(fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 5 }), fieldValue) }, { requiredKeys: ['peerId', 'cid', 'url'] })
  const registerPeer = fc.record({ peerId: names, ip: fc.oneof(fc.constantFrom('127.0.0.1', '::1', '999.1.1.1', 'x'), fieldValue), port: fc.oneof(fc.integer({ min: -1, max: 70_000 }), fieldValue), hostName: fieldValue }, { requiredKeys: [] })
  const report = fc.record({ cid: names, result: fc.oneof(fc.constantFrom('success', 'failed', 'cached', 'evicted'), fieldValue), sourcePeerId: names, costMs: fieldValue, reason: fieldValue }, { requiredKeys: ['cid', 'result'] })
  const reports = fc.record({ cid: names, reports: fc.array(fc.record({ pieceRange: fc.oneof(fc.constantFrom('0-1048575', '0-0', '1048576-2097151', '5-1'), fieldValue), result: fc.constantFrom('success', 'failed', 'cached'), sourcePeerId: names }, { requiredKeys: ['pieceRange'] }), { maxLength: 4 }) }, { requiredKeys: ['cid'] })
  const preheat = fc.record({ type: fc.oneof(fc.constantFrom('file', 'image'), fieldValue), url, headers, filter: fieldValue, identifier: fieldValue, md5: fieldValue, digests: fc.oneof(fc.array(fc.stringMatching(/^sha256:[0-9a-f]{64}$/), { maxLength: 2 }), fieldValue) }, { requiredKeys: ['type', 'url'] })
  const body = fc.oneof(jsonBody(registerTask), jsonBody(registerPeer), jsonBody(report), jsonBody(reports), jsonBody(preheat))
  const id = pathSegment()
  const routes: fc.Arbitrary<string> = fc.oneof(
    fc.constantFrom(SUPERNODE_PATHS.ping, SUPERNODE_PATHS.version, SUPERNODE_PATHS.metrics, SUPERNODE_PATHS.openapi, SUPERNODE_PATHS.dashboard, SUPERNODE_PATHS.peers, SUPERNODE_PATHS.tasks, SUPERNODE_PATHS.dashboardFeed, SUPERNODE_PATHS.preheats, '/docs/json', '/docs/static/index.html'),
    id.map((peerId) => fillRaw(SUPERNODE_PATHS.peer, { peerId })),
    id.map((taskId) => fillRaw(SUPERNODE_PATHS.task, { taskId })),
    id.map((taskId) => fillRaw(SUPERNODE_PATHS.taskPieces, { taskId })),
    fc.tuple(id, id).map(([taskId, pieceRange]) => fillRaw(SUPERNODE_PATHS.taskPiece, { taskId, pieceRange })),
    id.map((preheatId) => fillRaw(SUPERNODE_PATHS.preheat, { preheatId })),
    id.map((file) => fillRaw(SUPERNODE_PATHS.dashboardAsset, { file })),
    fc.array(pathSegment(['api', 'v1', 'tasks', 'peers', 'pieces', 'preheats']), { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join('/')}`),
  )
  return fc.record({
    method: fc.constantFrom(...METHODS),
    path: fc.tuple(routes, fc.option(queryString(['cid', 'max', 'waitMs', 'token', 'all']), { nil: undefined })).map(([route, query]) => query === undefined ? route : `${route}?${query}`),
    headers: fc.record({ 'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'x/y'), 'x-request-id': fc.oneof(fc.constant('fuzz'), headerText(20)) }, { requiredKeys: ['content-type'] }),
    body: fc.option(body, { nil: undefined }),
  })
}

/** A path with raw (already encoded or deliberately malformed) parameter values. */
function fillRaw (template: string, params: Readonly<Record<string, string>>): string {
  return template.replace(/:([A-Za-z]+)/g, (_, name: string) => params[name] ?? '')
}

export const supernodeApiSurface = defineSurface<HttpInput>({
  name: 'supernode-api',
  title: 'supernode API: every route, its parameters, queries, headers and JSON bodies',
  concurrency: 16,
  async setUp (): Promise<SurfaceInstance<HttpInput>> {
    const stack = new CloseStack()
    try {
      const core = await startSwarmCore(stack)
      // A live peer, so generated registrations of "peer-a" reach the source checks.
      await core.client.registerPeer({ peerId: 'peer-a', ip: '127.0.0.1', port: 9 })
      const sender = stack.push(new HttpSender(core.apiUrl, { connections: 16 }))
      return {
        arbitrary: apiInput([core.publicUrl, core.privateUrl, `${core.publicUrl}?x=1`]),
        send: async (input) => {
          // The dashboard's event stream never ends: read its answer's head only.
          const path = input.path.startsWith(SUPERNODE_PATHS.dashboardEvents) ? input.path.replace('/events', '') : input.path
          return await sender.send({ ...input, path })
        },
        checkHealth: core.ping,
        close: async () => { await stack.close() },
      }
    } catch (err) {
      await stack.close()
      throw err
    }
  },
})

interface DataInput {
  readonly taskId: string
  readonly range: string | undefined
  readonly grant: string | undefined
  readonly method: string
}

export const supernodeDataSurface = defineSurface<DataInput>({
  name: 'supernode-data',
  title: 'supernode download port: task ids, Range headers, piece grants',
  concurrency: 16,
  async setUp (): Promise<SurfaceInstance<DataInput>> {
    const stack = new CloseStack()
    try {
      const core = await startSwarmCore(stack)
      const client = core.client
      await client.registerPeer({ peerId: 'peer-a', ip: '127.0.0.1', port: 9 })
      const publicId = (await client.registerTask({ peerId: 'peer-a', cid: 'cid-public', url: core.publicUrl })).taskId
      const privateId = (await client.registerTask({ peerId: 'peer-a', cid: 'cid-private', url: core.privateUrl, headers: { Authorization: PRIVATE_AUTH } })).taskId
      // A real grant: pull until the answer hands out pieces (the CDN caches the file meanwhile).
      let grant: string | undefined
      for (let i = 0; i < 100 && grant === undefined; i++) {
        const pulled = await client.pullPieceTasks(privateId, { cid: 'cid-private', waitMs: 200 })
        if (pulled.result === 'pieces') grant = pulled.pieces.find((piece) => piece.grant !== undefined)?.grant
      }
      if (grant === undefined) throw new Error('no grant handed out for the private task')
      const forger = generateKeyPairSync('ed25519').privateKey
      const forged = signPieceGrant({ taskId: privateId, peerId: 'peer-a', cid: 'cid-private', expiresAtMs: Date.now() + 600_000 }, forger)
      const grants = [grant, forged, grant.slice(0, -2), grant.replace('v1.', 'v2.'), `${grant}.x`, 'v1..', 'v1.e30.AAAA']
      const data = stack.push(new HttpSender(core.downloadUrl, { connections: 16 }))
      const rangeValue = fc.oneof(
        { weight: 4, arbitrary: fc.tuple(fc.integer({ min: -3, max: FILE_BYTES + 10 }), fc.integer({ min: -3, max: 4096 })).map(([a, span]) => `bytes=${a}-${a + span}`) },
        { weight: 1, arbitrary: fc.tuple(fc.integer({ min: -3, max: 2 ** 40 }), fc.integer({ min: -3, max: 2 ** 40 })).map(([a, b]) => `bytes=${a}-${b}`) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: FILE_BYTES + 10 }).map((a) => `bytes=${a}-`) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: FILE_BYTES + 10 }).map((a) => `bytes=-${a}`) },
        { weight: 1, arbitrary: fc.constantFrom('bytes=0-0', 'bytes=0-1,5-9', 'items=0-1', 'bytes=', 'bytes=-', 'bytes=a-b', '', 'bytes=0-99999999999999999999', 'bytes=1048576-1048575') },
        { weight: 1, arbitrary: headerText(30) },
      )
      return {
        arbitrary: fc.record({
          taskId: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(publicId, privateId) }, { weight: 1, arbitrary: pathSegment() }),
          range: fc.option(rangeValue, { nil: undefined }),
          grant: fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...grants) }, { weight: 1, arbitrary: headerText(300) }), { nil: undefined }),
          method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST'),
        }),
        send: async (input) => await data.send({
          method: input.method,
          path: fillRaw(SUPERNODE_DATA_PATHS.taskData, { taskId: input.taskId }),
          headers: { ...(input.range === undefined ? {} : { range: input.range }), ...(input.grant === undefined ? {} : { [PIECE_GRANT_HEADER]: input.grant }) },
        }),
        checkHealth: core.ping,
        close: async () => { await stack.close() },
      }
    } catch (err) {
      await stack.close()
      throw err
    }
  },
})
