import { test } from 'node:test'
import assert from 'node:assert/strict'
import { errorFromFrame, FRAME, FrameReader, frameHeader, jsonFrame } from './agent-protocol.js'
import { isCode } from '../../protocol/errors.js'

test('frames split anywhere are read back whole: data passed on in slices, control frames parsed', () => {
  const data = Buffer.from('0123456789abcdef'.repeat(100))
  const stream = Buffer.concat([
    jsonFrame(FRAME.request, { version: 1, config: { url: 'http://o/f' } }),
    frameHeader(FRAME.data, data.length), data,
    jsonFrame(FRAME.progress, { bytesFromPeers: 5 }),
    frameHeader(FRAME.data, 0),
    jsonFrame(FRAME.result, { lengthBytes: 1600 }),
  ])
  for (const step of [1, 3, 7, 1000, stream.length]) {
    const seen: { kind: number, payload: Buffer }[] = []
    const reader = new FrameReader((kind, payload) => { seen.push({ kind, payload: Buffer.from(payload) }) })
    for (let offset = 0; offset < stream.length; offset += step) reader.push(stream.subarray(offset, offset + step))
    assert.ok(reader.atFrameBoundary)
    const kinds = [...new Set(seen.map((frame) => frame.kind))]
    assert.deepEqual(kinds, [FRAME.request, FRAME.data, FRAME.progress, FRAME.result])
    assert.ok(Buffer.concat(seen.filter((frame) => frame.kind === FRAME.data).map((frame) => frame.payload)).equals(data))
    assert.deepEqual(JSON.parse(seen.find((frame) => frame.kind === FRAME.result)?.payload.toString() ?? ''), { lengthBytes: 1600 })
  }
})

test('an unknown frame kind or an oversized control frame is a protocol error; error frames keep known codes only', () => {
  assert.throws(() => { new FrameReader(() => {}).push(Buffer.from([0x99, 0, 0, 0, 0])) }, (err: unknown) => isCode(err, 'DF_ERR_INTERNAL'))
  assert.throws(() => { new FrameReader(() => {}).push(frameHeader(FRAME.result, 64 * 1024 * 1024)) }, (err: unknown) => isCode(err, 'DF_ERR_INTERNAL'))
  assert.ok(isCode(errorFromFrame({ code: 'DF_ERR_SOURCE_STATUS', message: 'source answered 404' }), 'DF_ERR_SOURCE_STATUS'))
  const unknown = errorFromFrame({ code: 'DF_ERR_MADE_UP', message: 'x' })
  assert.ok(isCode(unknown, 'DF_ERR_INTERNAL'))
  assert.equal(unknown.message, 'x')
  assert.ok(isCode(errorFromFrame(undefined), 'DF_ERR_INTERNAL'))
})
