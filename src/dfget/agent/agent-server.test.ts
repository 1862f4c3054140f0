import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { join } from 'node:path'
import { createSilentLogger } from '../../common/log.js'
import { PeerServer } from '../uploader/peer-server.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { FRAME, FrameReader, jsonFrame, parseJsonPayload } from './agent-protocol.js'

/** Sends one frame on the agent's socket and collects the frames of its answer until it closes. */
async function ask (socketPath: string, frame: Buffer): Promise<{ kind: number, value: unknown }[]> {
  return await new Promise((resolve, reject) => {
    const frames: { kind: number, value: unknown }[] = []
    const reader = new FrameReader((kind, payload) => { frames.push({ kind, value: kind === FRAME.data ? payload.length : parseJsonPayload(payload) }) })
    const socket = connect(socketPath, () => { socket.write(frame) })
    socket.on('data', (chunk: Buffer) => { reader.push(chunk) })
    socket.on('error', reject)
    socket.on('close', () => { resolve(frames) })
  })
}

test('the agent refuses a request of another protocol version or without a run configuration with DF_ERR_ARG_INVALID, and keeps serving', async (t) => {
  const home = await createTmpDir('df-agent-')
  t.after(() => home.close())
  const server = new PeerServer({ logger: createSilentLogger() }, { homeDir: home.path, listenHost: '127.0.0.1', port: 0, aliveTimeMs: 60_000, expireTimeMs: 60_000, uploadRateBytesPerSec: 0, agent: true, writeStateFile: false })
  t.after(() => server.close())
  await server.start()
  const socketPath = join(home.path, 'agent.sock')
  // Found by the fuzz (test/fuzz/peer-surfaces.ts): these were answered DF_ERR_INTERNAL.
  for (const request of [{ version: 999 }, { version: 1 }, { version: 1, config: { url: 'http://127.0.0.1:1/f' } }, [], null]) {
    const frames = await ask(socketPath, jsonFrame(FRAME.request, request))
    assert.equal(frames.length, 1, JSON.stringify(frames))
    assert.equal(frames[0]?.kind, FRAME.error)
    assert.equal((frames[0]?.value as { code?: string }).code, 'DF_ERR_ARG_INVALID', JSON.stringify(request))
  }
})
