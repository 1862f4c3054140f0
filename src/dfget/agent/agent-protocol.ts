/**
 * The host agent's local protocol, between `dfget` (the thin client) and the agent (the
 * host's long-lived `dfget server`, or dfdaemon), over the Unix socket `<home>/agent.sock`.
 *
 * Both directions carry frames: one byte of kind, four bytes of payload length (big
 * endian), the payload. The client sends one `request` frame (JSON: the protocol version,
 * the resolved DfgetConfig of the run and, for `-o -` with a pipe on its stdout, `stdoutPipe`
 * naming that pipe: stdout-pipe.ts; an agent that ignores the field answers as before); the
 * agent answers with any number of `data` frames (the file's bytes in order, for `-o -` and
 * stream mode, unless it writes them into the named pipe itself), `progress` frames (JSON byte
 * counts, a few per second), `log` frames (the run's log lines, for a `--verbose` run, whose
 * client prints them on stderr as an in-process run would) and ends with one `result` frame (JSON DfgetResult) or one
 * `error` frame (JSON `{code, message}`), then closes. A client that closes the connection
 * cancels its run: the agent aborts it and cleans up as any failed run does.
 */
import { DfError, isErrorCode } from '../../protocol/errors.js'

/** Bumped whenever a frame's meaning changes; an agent of another version refuses the request. */
export const AGENT_PROTOCOL_VERSION = 1

export const FRAME = {
  request: 0x51, // 'Q'
  data: 0x44, // 'D'
  progress: 0x50, // 'P'
  result: 0x52, // 'R'
  error: 0x45, // 'E'
  log: 0x4c, // 'L': the run's log records (JSON lines), for --verbose
} as const
export type FrameKind = typeof FRAME[keyof typeof FRAME]

const HEADER_BYTES = 5
/** Control frames (JSON) are small; a larger one is a protocol error. */
const MAX_CONTROL_FRAME_BYTES = 1024 * 1024

export interface ProgressFrame {
  readonly expectedLengthBytes: number | undefined
  readonly bytesFromSource: number
  readonly bytesFromSupernode: number
  readonly bytesFromPeers: number
}

export interface ErrorFrame {
  readonly code: string
  readonly message: string
}

/** A frame's header (its payload follows). */
export function frameHeader (kind: FrameKind, length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES)
  header[0] = kind
  header.writeUInt32BE(length, 1)
  return header
}

/** A whole JSON frame. */
export function jsonFrame (kind: FrameKind, value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value))
  return Buffer.concat([frameHeader(kind, payload.length), payload])
}

/** The DfError an error frame names (an unknown code becomes DF_ERR_INTERNAL, keeping the message). */
export function errorFromFrame (frame: unknown): DfError {
  const value = frame as Partial<ErrorFrame> | undefined
  const message = typeof value?.message === 'string' ? value.message : 'the agent failed'
  const code = isErrorCode(value?.code) ? value.code : 'DF_ERR_INTERNAL'
  return new DfError(code, message)
}

/**
 * Splits a byte stream into frames. Data payloads are handed on as slices of the chunks
 * they arrived in (no copy); control payloads are joined and parsed.
 */
export class FrameReader {
  readonly #onFrame: (kind: number, payload: Buffer) => void
  #header = Buffer.alloc(0)
  #kind = 0
  #remaining = -1
  #control: Buffer[] = []

  constructor (onFrame: (kind: number, payload: Buffer) => void) {
    this.#onFrame = onFrame
  }

  /** Feeds bytes. @throws DfError DF_ERR_INTERNAL on a malformed stream */
  push (chunk: Buffer): void {
    let rest = chunk
    while (rest.length > 0) {
      if (this.#remaining < 0) {
        const need = HEADER_BYTES - this.#header.length
        this.#header = Buffer.concat([this.#header, rest.subarray(0, need)])
        rest = rest.subarray(need)
        if (this.#header.length < HEADER_BYTES) return
        this.#kind = this.#header[0] ?? 0
        this.#remaining = this.#header.readUInt32BE(1)
        this.#header = Buffer.alloc(0)
        if (!Object.values(FRAME).includes(this.#kind as FrameKind)) throw new DfError('DF_ERR_INTERNAL', `agent protocol: unknown frame kind ${this.#kind}`)
        if (this.#kind !== FRAME.data && this.#remaining > MAX_CONTROL_FRAME_BYTES) throw new DfError('DF_ERR_INTERNAL', 'agent protocol: control frame too large')
        if (this.#remaining === 0) this.#emit(Buffer.alloc(0))
        continue
      }
      const take = rest.subarray(0, this.#remaining)
      rest = rest.subarray(take.length)
      this.#remaining -= take.length
      if (this.#kind === FRAME.data) {
        this.#onFrame(FRAME.data, take)
        if (this.#remaining === 0) this.#remaining = -1
        continue
      }
      this.#control.push(take)
      if (this.#remaining === 0) {
        const payload = Buffer.concat(this.#control)
        this.#control = []
        this.#emit(payload)
      }
    }
  }

  /** True between frames (a connection may end here). */
  get atFrameBoundary (): boolean {
    return this.#remaining < 0 && this.#header.length === 0
  }

  #emit (payload: Buffer): void {
    this.#remaining = -1
    this.#onFrame(this.#kind, payload)
  }
}

/** Parses a control frame's JSON. @throws DfError */
export function parseJsonPayload (payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch (err) {
    throw new DfError('DF_ERR_INTERNAL', 'agent protocol: a control frame is not JSON', { cause: err })
  }
}
