// How `raftlog kv` writes keys and values given as text (arguments, load files, output): the
// store holds bytes, and --encoding says how text stands for them. utf8 (the default): the
// text's UTF-8 bytes; hex and base64: the bytes those spell, so any bytes can be given and shown.
// Nothing is ever changed on the way: text that cannot stand for the bytes is refused, never
// replaced (U+FFFD), in both directions.
import { UsageError } from '../command.js'
import { RaftLogError } from '../../errors.js'

export const kvEncodings = ['utf8', 'hex', 'base64'] as const
export type KvEncoding = (typeof kvEncodings)[number]

/** The --encoding option's value, checked. */
export function encodingFrom(text: string | undefined): KvEncoding {
  if (text === undefined) return 'utf8'
  if (!(kvEncodings as readonly string[]).includes(text)) throw new UsageError(`--encoding must be ${kvEncodings.join(', ')}, got '${text}'`)
  return text as KvEncoding
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const hexPattern = /^(?:[0-9a-fA-F]{2})*$/
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * The bytes `text` stands for in `encoding`; `what` names it in a refusal ("KEY", "line 4's value").
 * In utf8, text holding U+FFFD is refused: it is what bytes that are not UTF-8 become when the
 * system hands an argument to Node, so the bytes meant are no longer known.
 */
export function bytesFrom(text: string, encoding: KvEncoding, what: string): Buffer {
  const refuse = (problem: string): UsageError => new UsageError(`${what} ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)} ${problem}`)
  switch (encoding) {
    case 'utf8':
      if (text.includes('\ufffd')) throw refuse('holds U+FFFD, which is what bytes that are not UTF-8 turn into: give such a key or value with --encoding hex or base64')
      if (loneSurrogate.test(text)) throw refuse('holds a lone surrogate, which has no UTF-8 bytes: give it with --encoding hex or base64')
      return Buffer.from(text, 'utf8')
    case 'hex':
      if (!hexPattern.test(text)) throw refuse('is not hex (pairs of 0-9, a-f)')
      return Buffer.from(text, 'hex')
    case 'base64':
      if (!base64Pattern.test(text)) throw refuse('is not base64 (A-Z, a-z, 0-9, +, / in groups of four, = padded)')
      return Buffer.from(text, 'base64')
  }
}

/** Bytes as text in `encoding`; in utf8, bytes that are not UTF-8 are refused (ERR_NOT_UTF8) with a hint, never replaced. */
export function textOf(bytes: Uint8Array, encoding: KvEncoding, what: string): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (encoding !== 'utf8') return buffer.toString(encoding)
  const text = utf8OrUndefined(buffer)
  if (text === undefined) throw new RaftLogError('ERR_NOT_UTF8', `${what} ${describeBytes(buffer)} is not UTF-8 text: show it with --encoding base64 or hex`)
  return text
}

/** Bytes for a line of text output: as they are in utf8 (a terminal shows what it can), spelled out in hex or base64. */
export function outputOf(bytes: Uint8Array, encoding: KvEncoding): Buffer {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  return encoding === 'utf8' ? buffer : Buffer.from(buffer.toString(encoding))
}

/** For messages and dumps: the text in quotes when the bytes are UTF-8, else hex:… */
export function describeBytes(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const text = utf8OrUndefined(buffer)
  return text === undefined ? `hex:${buffer.toString('hex')}` : JSON.stringify(text)
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function utf8OrUndefined(bytes: Buffer): string | undefined {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
}
