#!/usr/bin/env node
// origin-server.mjs - the lab's origin: a static HTTP server for one file, run inside a lab
// host (`ip netns exec <ns> node origin-server.mjs --listen 198.18.0.1 --port 8080 --file F`).
// Serves GET/HEAD <path> with a single byte Range (206/416), ETag, Last-Modified and
// Accept-Ranges, like a CDN or object store. It counts the body bytes it sent, so the bench
// can report "bytes read from the origin": GET /_stats gives {requests, bytesSent} (requests
// for the file, body bytes sent) and POST /_stats/reset zeroes them. Prints "origin ready http://IP:PORT<path>" on stdout.
// With --token T the file wants `Authorization: Bearer T` (401 without, 403 with another).
// GET /_warm/<n>.bin is <n> MiB (1..64) of bytes made from <n>, not counted: the bench warms
// long-lived host agents with it before the clock (`--agents warm`).
import { createServer } from 'node:http'
import { createReadStream, statSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8080' },
    file: { type: 'string' },
    path: { type: 'string', default: '/data.bin' },
    token: { type: 'string' },
  },
})
if (values.file === undefined) {
  console.error('origin-server: --file is required')
  process.exit(2)
}
const file = values.file
const stat = statSync(file)
const size = stat.size
const etag = `"${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`
const lastModified = stat.mtime.toUTCString()
const stats = { requests: 0, bytesSent: 0 }

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://origin')
  if (url.pathname === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(stats))
    return
  }
  if (url.pathname === '/_stats/reset' && req.method === 'POST') {
    stats.requests = 0; stats.bytesSent = 0
    res.writeHead(204).end()
    return
  }
  const warm = /^\/_warm\/([1-9]\d?)\.bin$/.exec(url.pathname)
  if (warm !== null && Number(warm[1]) <= 64) {
    const body = Buffer.alloc(Number(warm[1]) * 1024 * 1024, `warm-${warm[1]}-`)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) })
    res.end(req.method === 'HEAD' ? undefined : body)
    return
  }
  if (url.pathname !== values.path) { res.writeHead(404).end(); return }
  if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return }
  if (values.token !== undefined && req.headers.authorization !== `Bearer ${values.token}`) {
    res.writeHead(req.headers.authorization === undefined ? 401 : 403, req.headers.authorization === undefined ? { 'www-authenticate': 'Bearer' } : {}).end()
    return
  }
  stats.requests++
  const headers = { 'accept-ranges': 'bytes', etag, 'last-modified': lastModified, 'content-type': 'application/octet-stream' }
  let start = 0
  let end = size - 1
  let status = 200
  const range = req.headers.range
  // If-Range with a different validator means "send the whole file".
  const ifRange = req.headers['if-range']
  if (range !== undefined && (ifRange === undefined || ifRange === etag || ifRange === lastModified)) {
    const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim())
    if (match === null || (match[1] === '' && match[2] === '')) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end()
      return
    }
    if (match[1] === '') {
      start = Math.max(0, size - Number(match[2]))
    } else {
      start = Number(match[1])
      end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1)
    }
    if (start >= size || start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end()
      return
    }
    status = 206
    headers['content-range'] = `bytes ${start}-${end}/${size}`
  }
  headers['content-length'] = String(end - start + 1)
  res.writeHead(status, headers)
  if (req.method === 'HEAD' || size === 0) { res.end(); return }
  const stream = createReadStream(file, { start, end, highWaterMark: 256 * 1024 })
  stream.on('data', (chunk) => { stats.bytesSent += chunk.length })
  stream.on('error', () => { res.destroy() })
  res.on('close', () => { stream.destroy() })
  stream.pipe(res)
})
server.keepAliveTimeout = 5_000
server.listen(Number(values.port), values.listen, () => {
  const address = server.address()
  console.log(`origin ready http://${values.listen}:${address.port}${values.path}`)
})
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
