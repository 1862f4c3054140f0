/** Reading dfget's `--cacert` file (a PEM CA trusted for https supernodes). */
import { readFile } from 'node:fs/promises'
import { DfError } from '../protocol/errors.js'

/** The file's bytes, or undefined without --cacert. @throws DF_ERR_CONFIG_INVALID naming the file */
export async function loadCaCert (path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined
  try {
    return await readFile(path)
  } catch (err) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `--cacert: cannot read ${path}`, { cause: err, details: { field: 'cacert', value: path } })
  }
}
