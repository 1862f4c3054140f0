/**
 * Fuzz surface of dfdaemon's proxy (`dfdaemon-proxy`): a real Dfdaemon in this process with
 * the real swarm fetcher (a supernode and a host in this process), mirroring an origin that
 * serves one image blob. Generated requests: registry-mirror paths (blobs by digest, the
 * served one among them, manifests, `ns=` queries), forward-proxy requests in absolute
 * form, dfdaemon's own routes, with generated Range, Authorization and other headers. Every
 * upstream a request can name is on 127.0.0.1 (the origin, or a closed port), so no
 * generated request leaves the machine. 4xx answers may be the registry's own, passed
 * through; a 5xx must be dfdaemon's documented one.
 */
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTestData, startOrigin } from '../harness/origin.js'
import { startTestPeer } from '../harness/peer.js'
import { startTestSupernode } from '../harness/supernode.js'
import { startSwarmDfdaemon } from '../harness/swarm-dfdaemon.js'
import { defineSurface, type SurfaceInstance } from './fuzz-surface.js'
import { headerText, HttpSender, pathSegment, type HttpInput } from './http-input.js'

export const dfdaemonProxySurface = defineSurface<HttpInput>({
  name: 'dfdaemon-proxy',
  title: 'dfdaemon proxy: mirror and forward-proxy requests, blob ranges, its own routes',
  concurrency: 16,
  async setUp (): Promise<SurfaceInstance<HttpInput>> {
    const stack = new CloseStack()
    try {
      const blob = createTestData(600_000, 1604)
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`
      const origin = stack.push(await startOrigin({ files: { [`/v2/lib/img/blobs/${digest}`]: { data: blob }, '/v2/lib/img/manifests/latest': { data: Buffer.from('{}'), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } } } }))
      const sn = stack.push(await startTestSupernode(undefined, { sourceAllow: ['127.0.0.1'], sourceTimeoutMs: 3_000 }))
      const peer = stack.push(await startTestPeer())
      const dfdaemon = stack.push(await startSwarmDfdaemon({ peer, registryUrl: origin.baseUrl, nodes: [new URL(sn.apiUrl).host] }))
      const sender = stack.push(new HttpSender(dfdaemon.baseUrl, { connections: 16, judgeClientErrors: false }))
      const hosts = [new URL(origin.baseUrl).host, '127.0.0.1:1', '[::1]:1']
      const repo = fc.oneof(fc.constantFrom('lib/img', 'lib/other', 'a', '..', 'lib/img/../img'), fc.array(pathSegment(), { minLength: 1, maxLength: 3 }).map((s) => s.join('/')))
      const digestText = fc.oneof({ weight: 3, arbitrary: fc.constant(digest) }, { weight: 2, arbitrary: fc.stringMatching(/^sha256:[0-9a-f]{64}$/) }, { weight: 1, arbitrary: fc.constantFrom('sha256:', 'sha512:abc', 'sha256:XYZ', digest.toUpperCase()) }, { weight: 1, arbitrary: pathSegment() })
      const ns = fc.option(fc.constantFrom(...hosts, '', '%00', 'http://127.0.0.1:1', '127.0.0.1:99999'), { nil: undefined })
      const mirrorPath = fc.oneof(
        { weight: 4, arbitrary: fc.tuple(repo, digestText).map(([r, d]) => `/v2/${r}/blobs/${d}`) },
        { weight: 1, arbitrary: fc.tuple(repo, pathSegment(['latest'])).map(([r, t]) => `/v2/${r}/manifests/${t}`) },
        { weight: 1, arbitrary: fc.constantFrom('/v2', '/v2/', '/_ping', '/metrics', '/', '/v2/_catalog') },
        { weight: 1, arbitrary: fc.array(pathSegment(['v2', 'blobs', 'manifests']), { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`) },
      ).chain((path) => ns.map((value) => value === undefined ? path : `${path}?ns=${value}`))
      const absolute = fc.tuple(fc.constantFrom('http', 'https'), fc.constantFrom(...hosts), mirrorPath).map(([scheme, host, path]) => `${scheme}://${host}${path}`)
      const range = fc.oneof(
        fc.tuple(fc.integer({ min: -2, max: 700_000 }), fc.integer({ min: -2, max: 700_000 })).map(([a, b]) => `bytes=${a}-${b}`),
        fc.constantFrom('bytes=0-', 'bytes=-100', 'bytes=0-1,5-6', 'bytes=', 'items=0-1', 'bytes=599999-', 'bytes=600000-'),
        headerText(20),
      )
      return {
        arbitrary: fc.record({
          method: fc.constantFrom('GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE'),
          path: fc.oneof({ weight: 4, arbitrary: mirrorPath }, { weight: 1, arbitrary: absolute }),
          headers: fc.record({ range, authorization: fc.oneof(fc.constant('Basic ZnV6ejpmdXp6'), headerText(40)), accept: headerText(30), 'x-forwarded-for': headerText(20) }, { requiredKeys: [] }),
          body: fc.option(fc.string({ maxLength: 100 }), { nil: undefined }),
        }),
        send: async (input) => await sender.send(input),
        checkHealth: async () => {
          const outcome = await sender.send({ method: 'GET', path: '/_ping', headers: {} })
          if (outcome.status !== 200) throw new Error(`dfdaemon /_ping answered ${outcome.status}`)
        },
        close: async () => { await stack.close() },
      }
    } catch (err) {
      await stack.close()
      throw err
    }
  },
})
