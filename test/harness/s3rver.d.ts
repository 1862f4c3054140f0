// Types of the parts of s3rver (a fake S3 server, dev dependency) the tests use.
declare module 's3rver' {
  import type { Server } from 'node:http'
  import type { AddressInfo } from 'node:net'
  interface S3rverOptions {
    address?: string
    port?: number
    silent?: boolean
    directory: string
    resetOnClose?: boolean
    allowMismatchedSignatures?: boolean
    configureBuckets?: { name: string }[]
  }
  export default class S3rver {
    constructor (options: S3rverOptions)
    run (): Promise<AddressInfo>
    close (): Promise<void>
    readonly httpServer: Server
  }
}
declare module 's3rver/lib/models/account.js' {
  interface AWSAccount { createKeyPair (accessKeyId: string, secretAccessKey: string): void, revokeAccessKey (accessKeyId: string): void }
  const AWSAccountClass: { new (accountId: number, displayName: string): AWSAccount }
  export default AWSAccountClass
}
