/**
 * The downloads of a dfget run, before any is handed to the agent: one for an http(s) URL
 * (as given), one per object for an object-store URL (`s3://bucket/key`, and with
 * `--recursive` every object under a prefix: s3.ts, docs/dfget.md "Object stores"), one per
 * file of a Hugging Face repository (`hf://owner/repo[@revision][/path]`: hugging-face.ts).
 * Each object-store download becomes a presigned https URL when it starts, and each Hub
 * file its `/resolve/` URL, so the agent, the supernode and other hosts only ever see such
 * a URL. The AWS SDK is loaded only for s3://.
 */
import { DfError } from '../../protocol/errors.js'
import type { DfgetOptions } from '../config.js'

/** One download of a plan: its options are made (the object signed) when it starts. */
export type PlannedDownload = () => Promise<DfgetOptions>

export interface DownloadPlan {
  readonly downloads: readonly PlannedDownload[]
  /** Releases the object store's client. */
  readonly close: () => void
  /** Told of each download that finished (the Hub's local-directory records). */
  readonly onDownloaded?: (options: DfgetOptions) => Promise<void>
}

/** True for a Hugging Face URL (`hf://`). */
export function isHubUrl (url: string | undefined): boolean {
  return url !== undefined && /^hf:\/\//i.test(url)
}

/** True for an object-store URL (`s3://`). */
export function isObjectStoreUrl (url: string | undefined): boolean {
  return url !== undefined && /^s3:\/\//i.test(url)
}

/**
 * The downloads of a run. @throws DF_ERR_CONFIG_INVALID (a bad s3 or hf URL or option, no
 * credentials, --recursive without an s3 or hf URL), DF_ERR_SOURCE_* (listing the prefix or
 * the repository failed)
 */
export async function planDownloads (options: DfgetOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<DownloadPlan> {
  if (isHubUrl(options.url)) {
    const { planHubDownloads } = await import('./hugging-face.js')
    return await planHubDownloads(options, env, cwd)
  }
  if (!isObjectStoreUrl(options.url)) {
    if (options.recursive === true) throw new DfError('DF_ERR_CONFIG_INVALID', '--recursive: needs an s3:// or hf:// URL (a prefix or folder to download)', { details: { field: 'recursive' } })
    return { downloads: [async () => options], close: () => undefined }
  }
  const { planS3Downloads } = await import('./s3.js')
  return await planS3Downloads(options, env, cwd)
}
