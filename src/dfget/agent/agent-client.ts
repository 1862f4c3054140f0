/**
 * dfget as a thin client of the host agent (agent-server.ts): it hands the resolved run
 * configuration to the agent over `<home>/agent.sock` and relays what comes back — the
 * file's bytes for `-o -` and stream mode, progress for the bar, the result or the error.
 *
 * When no agent answers on the socket, dfget starts the host's agent (`dfget server`,
 * detached, as it always started the peer server) and connects once it is up. Only this
 * module and the protocol are loaded on the way: a download through a running agent costs
 * the client a Node start and a socket, not the HTTP client or the download path.
 */
import { connect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import type { Logger } from '../../common/log.js'
import { DfError } from '../../protocol/errors.js'
import type { DfgetConfig } from '../config.js'
import type { DfgetResult } from '../dfget.js'
import type { TransferStats } from '../downloader/transfer-stats.js'
import { createHomeLayout } from '../home-layout.js'
import { AGENT_PROTOCOL_VERSION, errorFromFrame, FRAME, FrameReader, jsonFrame, parseJsonPayload, type ProgressFrame } from './agent-protocol.js'
import { describeStdoutPipe } from './stdout-pipe.js'

/** A run handed to the agent: the bytes (`-o -`, stream mode) and how it ended. */
export interface AgentRun {
  /** The file's bytes in order, for `-o -` and stream mode; errors when the run fails part-way. */
  readonly body: Readable
  /** Settles when the agent reported the end. */
  readonly result: Promise<DfgetResult>
}

/**
 * Connects to the home's agent (starting it when none runs) and starts the run. Undefined
 * when no agent can be reached (the caller runs the download in process).
 */
export async function startAgentRun (config: DfgetConfig, deps: { openLogger: () => Promise<Logger>, stats: TransferStats, signal: AbortSignal, onLog?: (line: Buffer) => void }): Promise<AgentRun | undefined> {
  const socketPath = createHomeLayout(config.homeDir).agentSocketPath
  let socket = await tryConnect(socketPath)
  if (socket === undefined) {
    // Loaded only now: the launcher pings with the HTTP client.
    const { createPeerServerLauncher } = await import('../swarm-join.js')
    const logger = await deps.openLogger()
    try {
      await createPeerServerLauncher(config, logger).locate(deps.signal)
    } catch (err) {
      logger.warn({ err }, 'the host agent did not start: downloading in this process')
      return undefined
    }
    socket = await tryConnect(socketPath)
    if (socket === undefined) {
      logger.warn({ socketPath }, 'the host agent does not answer on its socket: downloading in this process')
      return undefined
    }
  }
  return relay(socket, config, deps)
}

function relay (socket: Socket, config: DfgetConfig, deps: { stats: TransferStats, signal: AbortSignal, onLog?: (line: Buffer) => void }): AgentRun {
  let settle: { resolve: (result: DfgetResult) => void, reject: (err: Error) => void } | undefined
  const result = new Promise<DfgetResult>((resolve, reject) => { settle = { resolve, reject } })
  result.catch(() => {}) // the body carries the failure too
  let ended = false
  const body = new Readable({
    read () { socket.resume() },
    destroy (err, callback) {
      if (!ended) socket.destroy()
      callback(err)
    },
  })
  // A file-mode run never reads the body: its failure is the result's.
  body.on('error', () => {})
  const finish = (err: Error | undefined, value?: DfgetResult): void => {
    if (ended) return
    ended = true
    deps.signal.removeEventListener('abort', onAbort)
    if (err === undefined && value !== undefined) {
      body.push(null)
      settle?.resolve(value)
    } else {
      const failure = err ?? new DfError('DF_ERR_INTERNAL', 'the host agent ended the run without a result')
      body.destroy(failure)
      settle?.reject(failure)
    }
  }
  const onAbort = (): void => {
    const reason: unknown = deps.signal.reason
    finish(reason instanceof Error ? reason : new DfError('DF_ERR_INTERNAL', 'interrupted'))
    socket.destroy()
  }
  deps.signal.addEventListener('abort', onAbort, { once: true })
  const stats = deps.stats
  const reader = new FrameReader((kind, payload) => {
    switch (kind) {
      case FRAME.data:
        if (!body.push(payload)) socket.pause()
        return
      case FRAME.progress: {
        const progress = parseJsonPayload(payload) as ProgressFrame
        stats.expectedLengthBytes = progress.expectedLengthBytes ?? stats.expectedLengthBytes
        stats.addFromSource(Math.max(0, progress.bytesFromSource - stats.bytesFromSource))
        stats.addFromSupernode(Math.max(0, progress.bytesFromSupernode - stats.bytesFromSupernode))
        stats.addFromPeers(Math.max(0, progress.bytesFromPeers - stats.bytesFromPeers))
        return
      }
      case FRAME.log:
        deps.onLog?.(payload)
        return
      case FRAME.result:
        finish(undefined, parseJsonPayload(payload) as DfgetResult)
        return
      case FRAME.error:
        finish(errorFromFrame(parseJsonPayload(payload)))
        return
      default:
        throw new DfError('DF_ERR_INTERNAL', `agent protocol: unexpected frame ${kind}`)
    }
  })
  socket.on('data', (chunk: Buffer) => {
    try {
      reader.push(chunk)
    } catch (err) {
      finish(err as Error)
      socket.destroy()
    }
  })
  socket.on('error', (err) => { finish(new DfError('DF_ERR_INTERNAL', `the host agent's socket failed: ${err.message}`, { cause: err })) })
  socket.on('close', () => { finish(new DfError('DF_ERR_INTERNAL', 'the host agent closed the connection before the end of the run')) })
  // `-o -` into a pipe: the agent may write the bytes into it itself (stdout-pipe.ts); the data frames that come are relayed either way.
  const stdoutPipe = config.output === '-' ? describeStdoutPipe() : undefined
  socket.write(jsonFrame(FRAME.request, { version: AGENT_PROTOCOL_VERSION, config, ...(stdoutPipe === undefined ? {} : { stdoutPipe }) }))
  return { body, result }
}

/** A connection to the socket, or undefined when nothing listens there. */
async function tryConnect (socketPath: string): Promise<Socket | undefined> {
  return await new Promise((resolve) => {
    const socket = connect(socketPath)
    socket.once('connect', () => { socket.removeAllListeners('error'); resolve(socket) })
    socket.once('error', () => { resolve(undefined) })
  })
}
