/**
 * startS3Store(): a local S3-compatible object store for the tests — s3rver (a fake S3 on
 * the filesystem, dev dependency) on 127.0.0.1 port 0, with its data in a temp directory,
 * key pairs of our own (checked with SigV4 on every request, presigned URLs included), and
 * the body bytes of its GETs counted per key, so a test can assert "read once". Objects are
 * put through the real AWS SDK. `close()` stops it (its connections too).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import AWSAccount from 's3rver/lib/models/account.js'

export interface S3Credentials { readonly accessKeyId: string, readonly secretAccessKey: string }

export interface S3Store {
  /** "http://127.0.0.1:port" */
  readonly endpoint: string
  /** Body bytes sent for GETs of `bucket/key`. */
  bytesSent(bucket: string, key: string): number
  /** GET requests of `bucket/key`. */
  gets(bucket: string, key: string): number
  put(bucket: string, key: string, data: Buffer): Promise<void>
  close(): Promise<void>
}

let accounts = 0
// The SDK's once-per-process notice that its 2027 releases need Node 22 (the tests pin it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/**
 * s3rver 3.7 reads `Range: bytes=0-0` as `bytes=0-` (`options.end || Infinity` in its
 * filesystem store) and sends the whole object, where S3 sends one byte. The store gets the
 * end 0 boxed (a truthy Number object that Math.min unboxes), so it answers as S3 does.
 */
function fixFirstByteRange (server: S3rver): void {
  const store = (server as unknown as { store: { getObject: (bucket: string, key: string, options?: { start?: number, end?: number }) => Promise<unknown> } }).store
  const getObject = store.getObject.bind(store)
  store.getObject = async (bucket, key, options) => await getObject(bucket, key, options?.end === 0 ? { ...options, end: new Number(0) as unknown as number } : options)
}

/** Starts the store with `buckets`; every key pair of `credentials` may sign (each its own account). */
export async function startS3Store (options: { buckets: readonly string[], credentials: readonly S3Credentials[] }): Promise<S3Store> {
  const directory = await mkdtemp(join(tmpdir(), 'damselfly-s3-'))
  for (const credentials of options.credentials) new AWSAccount(900000000000 + ++accounts, `damselfly-test-${accounts}`).createKeyPair(credentials.accessKeyId, credentials.secretAccessKey)
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: options.buckets.map((name) => ({ name })) })
  fixFirstByteRange(server)
  const address = await server.run()
  const endpoint = `http://127.0.0.1:${address.port}`
  const counts = new Map<string, { gets: number, bytes: number }>()
  server.httpServer.on('request', (req, res) => {
    if (req.method !== 'GET') return
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')
    const entry = counts.get(path) ?? { gets: 0, bytes: 0 }
    counts.set(path, entry)
    entry.gets += 1
    // The body bytes of a complete answer (its Content-Length), counted when it was sent.
    res.once('finish', () => { if (res.statusCode < 300) entry.bytes += Number(res.getHeader('content-length') ?? 0) })
  })
  const [first] = options.credentials
  if (first === undefined) throw new Error('startS3Store: give at least one key pair')
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: first })
  const stat = (bucket: string, key: string): { gets: number, bytes: number } => counts.get(`/${bucket}/${key}`) ?? { gets: 0, bytes: 0 }
  return {
    endpoint,
    bytesSent: (bucket, key) => stat(bucket, key).bytes,
    gets: (bucket, key) => stat(bucket, key).gets,
    async put (bucket, key, data) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }))
    },
    async close () {
      client.destroy()
      server.httpServer.closeAllConnections()
      await server.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}
