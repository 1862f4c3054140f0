/**
 * OCI images built in memory, no network or tools needed: N layers, each a gzipped tar of
 * one file of pseudo-random bytes, a config whose diff_ids are right (Docker checks them),
 * and an OCI manifest. `pushImage` uploads one to a registry through the distribution API
 * (monolithic blob uploads, then the manifest).
 */
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { createTestData } from './origin.js'

export interface ImageBlob {
  readonly digest: string
  readonly mediaType: string
  readonly data: Buffer
}

export interface TestImage {
  readonly layers: readonly ImageBlob[]
  readonly config: ImageBlob
  readonly manifest: ImageBlob
}

const sha256 = (data: Uint8Array): string => `sha256:${createHash('sha256').update(data).digest('hex')}`

/** An image whose layers hold `layerSizesBytes` bytes of data each (a little more once tarred and gzipped). */
export function buildTestImage (layerSizesBytes: readonly number[], seed = 1): TestImage {
  const layers: ImageBlob[] = []
  const diffIds: string[] = []
  for (const [i, size] of layerSizesBytes.entries()) {
    const tar = tarOneFile(`layer${i + 1}.bin`, createTestData(size, seed * 100 + i + 1))
    diffIds.push(sha256(tar))
    const data = gzipSync(tar, { level: 1 })
    layers.push({ digest: sha256(data), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', data })
  }
  const configData = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Cmd: ['/layer1.bin'] }, rootfs: { type: 'layers', diff_ids: diffIds },
  }))
  const config = { digest: sha256(configData), mediaType: 'application/vnd.oci.image.config.v1+json', data: configData }
  const manifestData = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: config.mediaType, digest: config.digest, size: config.data.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.data.length })),
  }))
  return { layers, config, manifest: { digest: sha256(manifestData), mediaType: 'application/vnd.oci.image.manifest.v1+json', data: manifestData } }
}

/** Pushes `image` as `<repository>:<tag>` to the registry at `baseUrl`. */
export async function pushImage (baseUrl: string, repository: string, tag: string, image: TestImage, authorization?: string): Promise<void> {
  const auth: Record<string, string> = authorization === undefined ? {} : { authorization }
  for (const blob of [...image.layers, image.config]) {
    const start = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: auth })
    if (start.status !== 202) throw new Error(`upload start: HTTP ${start.status}`)
    const location = new URL(start.headers.get('location') ?? '', baseUrl)
    location.searchParams.set('digest', blob.digest)
    const put = await fetch(location, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: blob.data })
    if (put.status !== 201) throw new Error(`upload of ${blob.digest}: HTTP ${put.status} ${await put.text()}`)
  }
  const put = await fetch(`${baseUrl}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { ...auth, 'content-type': image.manifest.mediaType }, body: image.manifest.data })
  if (put.status !== 201) throw new Error(`manifest: HTTP ${put.status} ${await put.text()}`)
}

/** A ustar archive holding one regular file. */
function tarOneFile (name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512)
  const field = (offset: number, length: number, value: string): void => { header.write(value, offset, length, 'ascii') }
  const octal = (value: number, length: number): string => `${value.toString(8).padStart(length - 1, '0')}\0`
  field(0, 100, name)
  field(100, 8, octal(0o644, 8))
  field(108, 8, octal(0, 8))
  field(116, 8, octal(0, 8))
  field(124, 12, octal(data.length, 12))
  field(136, 12, octal(0, 12))
  field(148, 8, '        ')
  field(156, 1, '0')
  field(257, 6, 'ustar\0')
  field(263, 2, '00')
  let sum = 0
  for (const byte of header) sum += byte
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512)
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)])
}
