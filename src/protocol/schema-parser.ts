/**
 * Turns a JSON schema (TypeBox) into a parse function: unknown in, typed value out, or a
 * DF_ERR_ARG_INVALID naming the first field at fault. The same schemas validate requests in
 * the supernode (fastify) and generate the OpenAPI document.
 */
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { invalidArgument } from './errors.js'

/** A parse function built from a schema. @throws DF_ERR_ARG_INVALID */
export type Parser<T> = (value: unknown) => T

export function createParser<S extends TSchema> (schema: S, what: string): Parser<Static<S>> {
  const checker = TypeCompiler.Compile(schema)
  return (value: unknown) => {
    if (checker.Check(value)) return value
    const first = checker.Errors(value).First()
    const field = first === undefined || first.path === '' ? what : `${what}${first.path.replaceAll('/', '.')}`
    throw invalidArgument(field, first?.message ?? 'does not match the schema')
  }
}
