import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatAge, formatBytes, formatShare, splitUrl } from './format.js'
import { SseParser, type ServerSentEvent } from './sse-parser.js'

test('the SSE parser yields whole events across any chunking, CRLF or LF, skipping comments', () => {
  const stream = 'retry: 2000\r\n\r\n: keep-alive\n\nevent: snapshot\ndata: {"a":1}\n\ndata: one\ndata: two\n\nevent: snapshot\r\ndata:{"b":2}\r\n\r\n'
  for (const size of [1, 2, 3, 7, stream.length]) {
    const events: ServerSentEvent[] = []
    const parser = new SseParser((event) => { events.push(event) })
    for (let i = 0; i < stream.length; i += size) parser.push(stream.slice(i, i + size))
    assert.deepEqual(events, [
      { type: 'snapshot', data: '{"a":1}' },
      { type: 'message', data: 'one\ntwo' },
      { type: 'snapshot', data: '{"b":2}' },
    ], `chunks of ${size}`)
  }
})

test('sizes, shares, ages and URLs are written for people', () => {
  assert.equal(formatBytes(0), '0 B')
  assert.equal(formatBytes(1536), '1.50 KiB')
  assert.equal(formatBytes(64 * 1024 * 1024), '64.0 MiB')
  assert.equal(formatShare(0.7381), '73.8 %')
  assert.equal(formatShare(1), '100 %')
  assert.equal(formatAge(42_500), '42 s')
  assert.equal(formatAge(185_000), '3 m 5 s')
  assert.deepEqual(splitUrl('http://origin:8080/images/layer-0.tar?…'), { name: 'layer-0.tar', where: 'origin:8080/images/?…' })
})
