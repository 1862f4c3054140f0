/**
 * Fuzz surfaces of a host (a real PeerServer in this process, also the host agent, with a
 * temp --home):
 *
 * - `peer-server`: every route of the peer server — piece data of a public and a private
 *   registered task with generated task ids, cids, Range headers and piece grants; the
 *   loopback control routes (uploads, stream stores, stream pieces) with generated bodies.
 * - `agent-socket`: byte streams on the agent's Unix socket (agent-protocol.ts): frames of
 *   every kind with generated lengths and payloads, truncated and oversized frames, JSON
 *   requests of wrong versions and shapes. A request that would start a download is never
 *   generated (a run would write to a generated output path).
 */
import fc from 'fast-check'
import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { createSilentLogger } from '../../src/common/log.js'
import { CloseStack } from '../../src/common/lifecycle.js'
import { PeerServer } from '../../src/dfget/uploader/peer-server.js'
import { PeerClient } from '../../src/dfget/uploader/peer-client.js'
import { AGENT_PROTOCOL_VERSION, FRAME } from '../../src/dfget/agent/agent-protocol.js'
import { ERROR_CODES, isErrorCode } from '../../src/protocol/errors.js'
import { PEER_PATHS } from '../../src/protocol/paths.js'
import { formatGrantKey, PIECE_GRANT_HEADER, signPieceGrant } from '../../src/protocol/piece-grant.js'
import { createTestData } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { defineSurface, type Outcome, type SurfaceInstance } from './fuzz-surface.js'
import { fieldValue, headerText, HttpSender, jsonBody, pathSegment, queryString, type HttpInput } from './http-input.js'

const PUBLIC_TASK = 'a'.repeat(64)
const PRIVATE_TASK = 'b'.repeat(64)
const CID = 'cid-fuzz'
const FILE_BYTES = 48 * 1024

/** A peer server (and agent) on a temp home serving one public and one private task. */
async function startHost (stack: CloseStack): Promise<{ server: PeerServer, homeDir: string, grants: string[] }> {
  const home = stack.push(await createTmpDir('df-fuzz-host-'))
  const server = new PeerServer({ logger: createSilentLogger() }, {
    homeDir: home.path, listenHost: '127.0.0.1', port: 0, aliveTimeMs: 3_600_000, expireTimeMs: 3_600_000, uploadRateBytesPerSec: 0, agent: true, writeStateFile: false, stopWhenIdle: false,
  })
  stack.defer(async () => { await server.close() })
  await server.start()
  const key = generateKeyPairSync('ed25519')
  const dataDir = join(home.path, 'data')
  const client = stack.push(new PeerClient({ baseUrl: server.localUrl }))
  for (const [taskId, grantKeys] of [[PUBLIC_TASK, undefined], [PRIVATE_TASK, [formatGrantKey(key.privateKey)]]] as const) {
    const path = join(dataDir, `${taskId}-${CID}`)
    await writeFile(path, createTestData(FILE_BYTES, 1603))
    await client.registerUpload({ taskId, cid: CID, path, fileLengthBytes: FILE_BYTES, pieceSizeBytes: 16 * 1024, supernodes: [], ...(grantKeys === undefined ? {} : { grantKeys: [...grantKeys] }) })
  }
  const claims = { taskId: PRIVATE_TASK, peerId: 'peer-x', cid: 'cid-x' }
  const grants = [
    signPieceGrant({ ...claims, expiresAtMs: Date.now() + 3_600_000 }, key.privateKey),
    signPieceGrant({ ...claims, expiresAtMs: Date.now() - 1 }, key.privateKey),
    signPieceGrant({ ...claims, taskId: PUBLIC_TASK, expiresAtMs: Date.now() + 3_600_000 }, key.privateKey),
    signPieceGrant({ ...claims, expiresAtMs: Date.now() + 3_600_000 }, generateKeyPairSync('ed25519').privateKey),
  ]
  return { server, homeDir: home.path, grants }
}

function peerInput (grants: readonly string[], dataDir: string): fc.Arbitrary<HttpInput> {
  const taskId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(PUBLIC_TASK, PRIVATE_TASK) }, { weight: 1, arbitrary: pathSegment() })
  const cid = fc.oneof(fc.constantFrom(CID, 'cid-x', ''), fc.string({ maxLength: 10 }).map(encodeURIComponent))
  const range = fc.oneof(
    fc.tuple(fc.integer({ min: -2, max: FILE_BYTES + 5 }), fc.integer({ min: -2, max: 4096 })).map(([a, span]) => `bytes=${a}-${a + span}`),
    fc.tuple(fc.integer({ min: -2, max: 2 ** 40 }), fc.integer({ min: -2, max: 2 ** 40 })).map(([a, b]) => `bytes=${a}-${b}`),
    fc.constantFrom('bytes=0-0', 'bytes=-5', 'bytes=5-', 'bytes=0-1,3-4', 'bytes=x', ''),
    headerText(20),
  )
  const grant = fc.oneof(fc.constantFrom(...grants), headerText(200))
  // Never a reachable supernode: a server going down tells these.
  const supernodes = fc.oneof(fc.constant(['http://127.0.0.1:9']), fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }), fieldValue)
  const grantKeys = fc.oneof(fc.constant([formatGrantKey(generateKeyPairSync('ed25519').privateKey)]), fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), { maxLength: 2 }), fieldValue)
  const path = fc.oneof(fc.constantFrom(join(dataDir, `${PUBLIC_TASK}-${CID}`), join(dataDir, 'missing'), '/etc/passwd', join(dataDir, '../peer-id'), `${dataDir}/../../x`), fieldValue)
  const upload = fc.record({ taskId, cid, path, fileLengthBytes: fc.oneof(fc.integer({ min: -1, max: 10_000_000 }), fieldValue), pieceSizeBytes: fc.oneof(fc.integer({ min: -1, max: 5_000_000 }), fieldValue), supernodes, grantKeys }, { requiredKeys: ['taskId', 'cid', 'path'] })
  const stream = fc.record({ taskId, cid, fileLengthBytes: fc.oneof(fc.integer({ min: -1, max: 10_000_000 }), fieldValue), pieceSizeBytes: fc.oneof(fc.integer({ min: 0, max: 5_000_000 }), fieldValue), windowPieces: fc.oneof(fc.integer({ min: -1, max: 5000 }), fieldValue), supernodes, grantKeys }, { requiredKeys: ['taskId', 'cid'] })
  const pieceNum = fc.oneof(fc.integer({ min: -1, max: 20 }).map(String), pathSegment())
  const route = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(taskId, cid).map(([t, c]) => `/peer/tasks/${t}/data?cid=${c}`) },
    { weight: 1, arbitrary: fc.tuple(taskId, fc.option(queryString(['cid']), { nil: undefined })).map(([t, q]) => `/peer/tasks/${t}/data${q === undefined ? '' : `?${q}`}`) },
    { weight: 1, arbitrary: fc.constantFrom(PEER_PATHS.ping, PEER_PATHS.metrics, PEER_PATHS.uploads, PEER_PATHS.streams) },
    { weight: 1, arbitrary: fc.tuple(taskId, cid).map(([t, c]) => `/peer/uploads/${t}?cid=${c}`) },
    { weight: 1, arbitrary: fc.tuple(taskId, cid).map(([t, c]) => `/peer/streams/${t}?cid=${c}`) },
    { weight: 1, arbitrary: fc.tuple(taskId, pieceNum, cid).map(([t, n, c]) => `/peer/streams/${t}/pieces/${n}?cid=${c}`) },
    { weight: 1, arbitrary: fc.array(pathSegment(['peer', 'tasks', 'data', 'uploads', 'streams', 'pieces']), { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`) },
  )
  return fc.record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD'),
    path: route,
    headers: fc.record({
      range,
      [PIECE_GRANT_HEADER]: grant,
      'content-type': fc.constantFrom('application/json', 'application/octet-stream', 'text/plain'),
    }, { requiredKeys: [] }),
    body: fc.option(fc.oneof(jsonBody(upload), jsonBody(stream), fc.string({ unit: 'binary', maxLength: 300 })), { nil: undefined }),
  })
}

export const peerServerSurface = defineSurface<HttpInput>({
  name: 'peer-server',
  title: 'peer server: piece data (ranges, grants) and the local control routes',
  concurrency: 16,
  async setUp (): Promise<SurfaceInstance<HttpInput>> {
    const stack = new CloseStack()
    try {
      const host = await startHost(stack)
      const sender = stack.push(new HttpSender(host.server.localUrl, { connections: 16 }))
      const client = stack.push(new PeerClient({ baseUrl: host.server.localUrl }))
      return {
        arbitrary: peerInput(host.grants, join(host.homeDir, 'data')),
        send: async (input) => await sender.send(input),
        checkHealth: async () => { await client.ping() },
        close: async () => { await stack.close() },
      }
    } catch (err) {
      await stack.close()
      throw err
    }
  },
})

/** Frame kinds, the known ones and some unknown. */
const KINDS = [...Object.values(FRAME), 0, 0xff, 0x41]

/** One frame: kind, declared length, payload (the declared length may lie). */
const frame = fc.record({
  kind: fc.constantFrom(...KINDS),
  payload: fc.oneof(
    { weight: 3, arbitrary: fc.record({ version: fc.oneof(fc.constant(AGENT_PROTOCOL_VERSION), fieldValue), config: fc.oneof(fieldValue, fc.record({ url: fieldValue, output: fieldValue, supernodes: fieldValue }, { requiredKeys: [] })) }, { requiredKeys: [] }).map((value) => Buffer.from(JSON.stringify(value))) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => Buffer.from(JSON.stringify(value) ?? '')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  ),
  lengthDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -10, max: 10 }) }, { weight: 1, arbitrary: fc.constantFrom(0xffffffff, 1024 * 1024 + 1, 2 ** 31) }),
})

interface AgentInput {
  readonly frames: readonly { kind: number, payload: Buffer, lengthDelta: number }[]
  /** Cut the stream after this many bytes (a client that dies mid-frame). */
  readonly cutAt: number | undefined
}

/** Bytes of one input; never a request the agent would run (it would download to a generated path). */
function encodeAgentInput (input: AgentInput): Buffer {
  const chunks: Buffer[] = []
  for (const { kind, payload, lengthDelta } of input.frames) {
    const header = Buffer.alloc(5)
    header[0] = kind
    const declared = lengthDelta > 1000 ? lengthDelta : Math.max(0, payload.length + lengthDelta)
    header.writeUInt32BE(declared >>> 0, 1)
    chunks.push(header, payload)
  }
  const bytes = Buffer.concat(chunks)
  return input.cutAt === undefined ? bytes : bytes.subarray(0, input.cutAt)
}

/** True when the agent could read a request frame that starts a download. */
function couldStartRun (input: AgentInput): boolean {
  return input.frames.some(({ kind, payload }) => {
    if (kind !== FRAME.request) return false
    try {
      const value = JSON.parse(payload.toString('utf8')) as { version?: unknown, config?: Record<string, unknown> } | null
      return value?.version === AGENT_PROTOCOL_VERSION && typeof value.config === 'object' && value.config !== null && typeof value.config.url === 'string'
    } catch {
      return false
    }
  })
}

/** Sends bytes on the socket, half-closes, and reads what the agent answers until it closes. */
async function exchange (socketPath: string, bytes: Buffer, timeoutMs: number): Promise<{ answer: Buffer, error?: string }> {
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(socketPath, () => { socket.end(bytes) })
    const timer = setTimeout(() => { socket.destroy(); resolve({ answer: Buffer.concat(chunks), error: `no end within ${timeoutMs} ms` }) }, timeoutMs)
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    // EPIPE/ECONNRESET: the agent dropped a malformed stream while we still wrote (a refusal, not a crash).
    socket.on('error', () => {})
    socket.on('close', () => { clearTimeout(timer); resolve({ answer: Buffer.concat(chunks) }) })
  })
}

/** Judges what the agent answered: nothing (dropped), or error frames with documented codes. */
function judgeAgentAnswer (answer: Buffer): Outcome {
  if (answer.length === 0) return { status: 0 }
  const kind = answer[0]
  if (answer.length < 5 || kind !== FRAME.error) return { status: 0, violation: { kind: 'undocumented', detail: `answer is not an error frame: ${answer.subarray(0, 40).toString('hex')}` } }
  const length = answer.readUInt32BE(1)
  let code: unknown
  try { code = (JSON.parse(answer.subarray(5, 5 + length).toString('utf8')) as { code?: unknown }).code } catch { code = undefined }
  if (!isErrorCode(code)) return { status: 0, violation: { kind: 'undocumented', detail: `error frame without a DF_ERR_* code: ${answer.subarray(5, 160).toString('utf8')}` } }
  if (code === 'DF_ERR_INTERNAL' || code === 'DF_ERR_INTERNAL_INVARIANT') return { status: ERROR_CODES[code].httpStatus, code, violation: { kind: 'undocumented', detail: `error frame ${code}` } }
  return { status: ERROR_CODES[code].httpStatus, code }
}

export const agentSocketSurface = defineSurface<AgentInput>({
  name: 'agent-socket',
  title: 'host agent socket: frames of every kind, lengths, payloads, cut streams',
  concurrency: 8,
  async setUp (): Promise<SurfaceInstance<AgentInput>> {
    const stack = new CloseStack()
    try {
      const host = await startHost(stack)
      const socketPath = join(host.homeDir, 'agent.sock')
      return {
        arbitrary: fc.record({ frames: fc.array(frame, { minLength: 0, maxLength: 3 }), cutAt: fc.option(fc.nat({ max: 300 }), { nil: undefined }) }).filter((input) => !couldStartRun(input)),
        send: async (input) => {
          const { answer, error } = await exchange(socketPath, encodeAgentInput(input), 10_000)
          if (error !== undefined) return { status: 0, violation: { kind: 'crash', detail: error } }
          return judgeAgentAnswer(answer)
        },
        checkHealth: async () => {
          // A well-formed request of another version: the agent must still read and refuse it.
          const { answer } = await exchange(socketPath, encodeAgentInput({ frames: [{ kind: FRAME.request, payload: Buffer.from(JSON.stringify({ version: -1 })), lengthDelta: 0 }], cutAt: undefined }), 5_000)
          const outcome = judgeAgentAnswer(answer)
          if (answer.length === 0 || outcome.violation !== undefined) throw new Error(`the agent answered ${answer.subarray(0, 80).toString('utf8')}`)
        },
        close: async () => { await stack.close() },
      }
    } catch (err) {
      await stack.close()
      throw err
    }
  },
})
