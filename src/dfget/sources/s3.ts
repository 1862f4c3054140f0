/**
 * `s3://bucket/key` through the swarm (docs/dfget.md, "Object stores"). dfget signs a GET of
 * the object with its own credentials — the AWS SDK's default chain: AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE, SSO, the instance or task
 * role — and downloads that presigned URL like any other. The task's identity leaves the
 * signature out (protocol/url-signature.ts), so hosts signing with different credentials
 * meet in one task; only the presigned URL leaves the host, never a credential, and it is
 * logged redacted (no query) like every source URL. `--recursive` lists the prefix
 * (ListObjectsV2) and downloads each object to its key under the output directory.
 * S3-compatible stores: `--s3-endpoint` (or AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) and
 * `--s3-path-style`.
 */
import { mkdir } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { GetObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { DfError } from '../../protocol/errors.js'
import type { DfgetOptions } from '../config.js'
import { configInvalid, resolveDuration } from '../uploader/peer-server-config.js'
import type { DownloadPlan } from './object-store.js'
import { outputOfKey } from './output-path.js'

/** A presigned URL is valid this long at least: 15 minutes (the run's --timeout when longer). */
export const PRESIGN_MIN_SECONDS = 15 * 60
/** SigV4's longest validity: 7 days. */
const PRESIGN_MAX_SECONDS = 7 * 24 * 60 * 60
/** The region when none is configured (S3-compatible stores mostly ignore it). */
export const DEFAULT_S3_REGION = 'us-east-1'

/**
 * Plans the downloads of an s3:// URL (object-store.ts). `env` gives the endpoint and region
 * variables; the SDK's credential chain reads the process's environment itself. @throws DfError
 */
export async function planS3Downloads (options: DfgetOptions, env: NodeJS.ProcessEnv, cwd: string): Promise<DownloadPlan> {
  const { bucket, key } = parseS3Url(options.url ?? '')
  const client = createS3Client(options, env)
  const close = (): void => { client.destroy() }
  try {
    const expiresIn = presignSeconds(resolveDuration('timeout', options.timeout, 0) / 1000)
    const sign = async (objectKey: string): Promise<string> => {
      try {
        return await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: objectKey }), { expiresIn })
      } catch (err) {
        throw s3Error(err, `s3://${bucket}/${objectKey}`)
      }
    }
    if (options.recursive !== true) {
      if (key === '' || key.endsWith('/')) throw configInvalid('url', options.url, 'names no object (a prefix ends with /): give the object\'s key, or --recursive for a prefix')
      const output = options.output ?? resolve(cwd, basename(key))
      return { downloads: [async () => ({ ...options, url: await sign(key), output })], close }
    }
    if (options.output === '-' || options.stream === true) throw configInvalid('recursive', 'true', 'writes files under a directory: give -o DIR, not - or --stream')
    const prefix = key === '' || key.endsWith('/') ? key : `${key}/`
    const dir = resolve(cwd, options.output ?? '.')
    const keys = await listKeys(client, bucket, prefix)
    if (keys.length === 0) throw new DfError('DF_ERR_SOURCE_STATUS', `no object under s3://${bucket}/${prefix}`, { details: { status: 404 } })
    const downloads = keys.map((objectKey) => {
      const output = outputOfKey(dir, prefix, objectKey) // every key checked before the first download
      return async (): Promise<DfgetOptions> => {
        await mkdir(dirname(output), { recursive: true })
        return { ...options, url: await sign(objectKey), output, recursive: undefined }
      }
    })
    return { downloads, close }
  } catch (err) {
    close()
    throw err
  }
}

/** `s3://bucket/key` (the key may be empty: the whole bucket, for --recursive). @throws DF_ERR_CONFIG_INVALID */
export function parseS3Url (url: string): { bucket: string, key: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/([^?#]*))?$/i.exec(url)
  if (match?.[1] === undefined) throw configInvalid('url', url, 'must be s3://bucket/key')
  let key = match[2] ?? ''
  try { key = decodeURIComponent(key) } catch { throw configInvalid('url', url, 'the key is not valid percent-encoding') }
  return { bucket: match[1], key }
}

/** How long to sign for: PRESIGN_MIN_SECONDS, the --timeout when longer, at most 7 days. */
export function presignSeconds (timeoutSeconds: number): number {
  return Math.min(PRESIGN_MAX_SECONDS, Math.max(PRESIGN_MIN_SECONDS, Math.ceil(timeoutSeconds)))
}

/** The endpoint of an S3-compatible store: the option, else the SDKs' environment variables; undefined for AWS. @throws DF_ERR_CONFIG_INVALID */
export function s3EndpointOf (options: DfgetOptions, env: NodeJS.ProcessEnv): string | undefined {
  const [flag, value] = options.s3Endpoint !== undefined
    ? ['s3-endpoint', options.s3Endpoint]
    : env.AWS_ENDPOINT_URL_S3 !== undefined && env.AWS_ENDPOINT_URL_S3 !== '' ? ['AWS_ENDPOINT_URL_S3', env.AWS_ENDPOINT_URL_S3] : ['AWS_ENDPOINT_URL', env.AWS_ENDPOINT_URL]
  if (value === undefined || value === '') return undefined
  let parsed: URL
  try { parsed = new URL(value) } catch { throw configInvalid(flag, value, 'must be an http or https URL') }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw configInvalid(flag, value, 'must be an http or https URL')
  return value
}

function createS3Client (options: DfgetOptions, env: NodeJS.ProcessEnv): S3Client {
  // The SDK warns once per process that its releases after January 2027 need Node 22; dfget
  // runs on Node 20 with the SDK its lockfile pins, and its stderr is one line per outcome.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const endpoint = s3EndpointOf(options, env)
  const region = nonEmpty(options.s3Region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? DEFAULT_S3_REGION
  return new S3Client({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    forcePathStyle: options.s3PathStyle === true,
    followRegionRedirects: true,
  })
}

/** The keys of the objects under `prefix` (not the `…/` folder markers), in the store's order. */
async function listKeys (client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = []
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined && !object.Key.endsWith('/')) keys.push(object.Key)
    }
  } catch (err) {
    throw s3Error(err, `s3://${bucket}/${prefix}`)
  }
  return keys
}

/** An SDK failure as a DfError: no credentials, the store's error status, or unreachable. Messages name no credential. */
function s3Error (err: unknown, what: string): DfError {
  if (err instanceof DfError) return err
  const name = (err as { name?: string } | undefined)?.name ?? 'Error'
  if (name === 'CredentialsProviderError') {
    return new DfError('DF_ERR_CONFIG_INVALID', `no AWS credentials for ${what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role`, { cause: err, details: { field: 'credentials' } })
  }
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode
  if (status !== undefined) return new DfError('DF_ERR_SOURCE_STATUS', `${what}: the object store answered ${status} (${name})`, { cause: err, details: { status } })
  return new DfError('DF_ERR_SOURCE_UNREACHABLE', `${what}: the object store could not be reached (${name})`, { cause: err })
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
