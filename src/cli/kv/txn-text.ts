// etcdctl's transaction text, as `raftlog txn` reads it from standard input or a file: the
// compares, one per line, a blank line, the operations run when every compare holds, a blank
// line, the operations run otherwise (a blank line or the end closes them):
//
//   mod("counter") = "7"            compares: TARGET("KEY") OP "OPERAND"; TARGET value (val),
//   value("owner") != "me"          version (ver), create (c), mod (m) or lease; OP =, !=, < or >
//                                   (a number's quotes may be left out)
//   put counter 8                   operations: put KEY VALUE [--prev-kv]
//   get owner                       get KEY [RANGE_END] [--prefix] [--from-key] [--rev N] [--limit N]
//                                       [--keys-only] [--count-only] [--sort-by T] [--order O]
//   get counter                     del KEY [RANGE_END] [--prefix] [--from-key] [--prev-kv]
//
// Words are separated by spaces; a word with spaces (or none at all) is written in double quotes,
// with Go's escapes (\", \\, \n, \t, \xHH below 80, \uHHHH), or in backquotes, taken as they are. Keys and
// values are text in the --encoding (utf8: their UTF-8 bytes; hex, base64: the bytes they spell).
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from '../command.js'
import type { CompareOptions, TxnOp, TxnOptions } from '../../kv/kv-client.js'
import type { CompareResult, CompareTarget } from '../../kv/kv-txn.js'
import { bytesFrom, type KvEncoding } from './encoding.js'
import { delFlagOptions, deleteOptionsFrom, getFlagOptions, rangeOptionsFrom } from './range-flags.js'

/** A line that is not etcdctl's transaction text: its number and what is wrong. */
export class TxnTextError extends UsageError {}

const targets: Record<string, CompareTarget> = { value: 'value', val: 'value', version: 'version', ver: 'version', create: 'create', c: 'create', mod: 'mod', m: 'mod', lease: 'lease' }
const results: Record<string, CompareResult> = { '=': 'equal', '==': 'equal', '!=': 'not_equal', '<': 'less', '>': 'greater' }

/** The three parts of the text, each a list of [line number, line]; a section ends at a blank line. */
export function txnSections(text: string, name = 'the transaction'): [number, string][][] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
  // A final newline leaves an empty last piece: not a line.
  if (lines.at(-1) === '') lines.pop()
  const sections: [number, string][][] = [[], [], []]
  let section = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (line.trim() === '') {
      section++
      continue
    }
    if (section > 2) throw new TxnTextError(`${name} line ${i + 1}: text after the failure operations (the compares, the success operations and the failure operations are three parts, each ended by a blank line): '${line.trim()}'`)
    ;(sections[section] as [number, string][]).push([i + 1, line])
  }
  return sections
}

/** A transaction from etcdctl's text; `name` says where it came from in refusals ("standard input", a file). */
export function parseTxnText(text: string, encoding: KvEncoding, name = 'the transaction'): TxnOptions {
  const [compares, success, failure] = txnSections(text, name) as [[number, string][], [number, string][], [number, string][]]
  const at = (line: number): string => `${name} line ${line}`
  return {
    compare: compares.map(([line, content]) => parseCompare(content, encoding, at(line))),
    success: success.map(([line, content]) => parseOperation(content, encoding, at(line))),
    failure: failure.map(([line, content]) => parseOperation(content, encoding, at(line))),
  }
}

/** `TARGET("KEY") OP "OPERAND"`. */
export function parseCompare(line: string, encoding: KvEncoding, where: string): CompareOptions {
  const text = line.trim()
  const open = text.indexOf('(')
  const target = targets[text.slice(0, open).trim().toLowerCase()]
  if (open === -1 || target === undefined) {
    throw new TxnTextError(`${where}: not a compare: '${text}' (a compare is TARGET("KEY") OP "VALUE", TARGET one of value, version, create, mod, lease: e.g. value("owner") = "me" or mod("counter") < "8"; a blank line ends the compares)`)
  }
  const [keyText, afterKey] = quoted(text, open + 1, where)
  const close = /^\s*\)\s*/.exec(text.slice(afterKey))
  if (close === null) throw new TxnTextError(`${where}: a ')' must follow the key in '${text}'`)
  const rest = text.slice(afterKey + close[0].length)
  const op = /^(!=|==|=|<|>)(?![=<>!])\s*/.exec(rest)
  if (op === null) throw new TxnTextError(`${where}: the comparison must be =, !=, < or >, in '${text}'`)
  const operandText = rest.slice(op[0].length)
  let operand: string
  if (operandText.startsWith('"') || operandText.startsWith('`')) {
    const [value, end] = quoted(operandText, 0, where)
    if (operandText.slice(end).trim() !== '') throw new TxnTextError(`${where}: text after the value in '${text}'`)
    operand = value
  } else {
    if (target === 'value' || !/^-?\d+$/.test(operandText.trim())) throw new TxnTextError(`${where}: the value to compare with must be in double quotes, in '${text}'`)
    operand = operandText.trim()
  }
  const key = bytesFrom(keyText, encoding, `${where}: the key`)
  const result = results[op[1] as string] as CompareResult
  if (target === 'value') return { key, target, result, operand: bytesFrom(operand, encoding, `${where}: the value`) }
  if (!/^-?\d+$/.test(operand) || !Number.isSafeInteger(Number(operand))) throw new TxnTextError(`${where}: a ${target} compare takes a whole number, got '${operand}'`)
  return { key, target, result, operand: Number(operand) }
}

/** `put KEY VALUE [--prev-kv]`, `get KEY [RANGE_END] [flags]`, `del KEY [RANGE_END] [flags]`. */
export function parseOperation(line: string, encoding: KvEncoding, where: string): TxnOp {
  const words = splitWords(line, where)
  const [verb, ...args] = words
  const parse = (options: NonNullable<ParseArgsConfig['options']>): { values: Record<string, string | boolean | undefined>; positionals: string[] } => {
    try {
      const parsed = parseArgs({ args, options, allowPositionals: true, strict: true })
      return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals }
    } catch (error) {
      throw new TxnTextError(`${where}: ${(error as Error).message.split('\n')[0]}`)
    }
  }
  const bytes = (text: string, what: string): Buffer => bytesFrom(text, encoding, `${where}: ${what}`)
  switch (verb) {
    case 'put': {
      const { values, positionals } = parse({ 'prev-kv': { type: 'boolean' }, lease: { type: 'string' } })
      if (positionals.length !== 2) throw new TxnTextError(`${where}: put takes a KEY and a VALUE (put KEY VALUE [--prev-kv]), got ${positionals.length} word${positionals.length === 1 ? '' : 's'}`)
      if (values.lease !== undefined && values.lease !== '0') throw new TxnTextError(`${where}: --lease: raftlog serves no leases yet`)
      return { put: { key: bytes(positionals[0] as string, 'the key'), value: bytes(positionals[1] as string, 'the value'), ...(values['prev-kv'] === true ? { prevKv: true } : {}) } }
    }
    case 'get': {
      const { values, positionals } = parse(getFlagOptions)
      if (positionals.length < 1 || positionals.length > 2) throw new TxnTextError(`${where}: get takes a KEY and perhaps a RANGE_END (get KEY [RANGE_END] [--prefix] …)`)
      const end = positionals[1] === undefined ? undefined : bytes(positionals[1], 'the range end')
      return { range: rangeOptionsFrom(bytes(positionals[0] as string, 'the key'), end, values, where) }
    }
    case 'del':
    case 'delete': {
      const { values, positionals } = parse(delFlagOptions)
      if (positionals.length < 1 || positionals.length > 2) throw new TxnTextError(`${where}: del takes a KEY and perhaps a RANGE_END (del KEY [RANGE_END] [--prefix] [--from-key] [--prev-kv])`)
      const end = positionals[1] === undefined ? undefined : bytes(positionals[1], 'the range end')
      return { deleteRange: deleteOptionsFrom(bytes(positionals[0] as string, 'the key'), end, values, where) }
    }
    default:
      throw new TxnTextError(`${where}: not an operation: '${line.trim()}' (an operation is put, get or del, as etcdctl's: put KEY VALUE, get KEY, del KEY; a blank line ends a list)`)
  }
}

/** The words of a line: spaces between them; "…" (Go's escapes) and `…` (as it is) hold spaces. */
export function splitWords(line: string, where: string): string[] {
  const words: string[] = []
  let position = 0
  while (position < line.length) {
    const char = line[position] as string
    if (char === ' ' || char === '\t') {
      position++
      continue
    }
    let word = ''
    while (position < line.length && line[position] !== ' ' && line[position] !== '\t') {
      if (line[position] === '"' || line[position] === '`') {
        const [text, end] = quoted(line, position, where)
        word += text
        position = end
      } else {
        word += line[position]
        position++
      }
    }
    words.push(word)
  }
  return words
}

const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' }

/** The string quoted at `start` ("…" with Go's escapes, or `…`) and the position after its closing quote. */
function quoted(text: string, start: number, where: string): [string, number] {
  const quote = text[start]
  if (quote === '`') {
    const end = text.indexOf('`', start + 1)
    if (end === -1) throw new TxnTextError(`${where}: a \` opened at column ${start + 1} is not closed`)
    return [text.slice(start + 1, end), end + 1]
  }
  if (quote !== '"') throw new TxnTextError(`${where}: expected a quoted string ("…") at column ${start + 1} of '${text}'`)
  let out = ''
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i] as string
    if (char === '"') return [out, i + 1]
    if (char !== '\\') {
      out += char
      continue
    }
    const next = text[++i]
    if (next === 'x' && /^[0-7][0-9a-fA-F]$/.test(text.slice(i + 1, i + 3))) {
      out += String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16))
      i += 2
    } else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) {
      out += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16))
      i += 4
    } else if (next === 'x' && /^[89a-fA-F][0-9a-fA-F]$/.test(text.slice(i + 1, i + 3))) {
      throw new TxnTextError(`${where}: '\\x${text.slice(i + 1, i + 3)}' is a byte that is not UTF-8 text on its own: write such keys and values with --encoding hex or base64`)
    } else if (next !== undefined && escapes[next] !== undefined) {
      out += escapes[next]
    } else {
      throw new TxnTextError(`${where}: unknown escape '\\${next ?? ''}' in '${text}'`)
    }
  }
  throw new TxnTextError(`${where}: a " opened at column ${start + 1} is not closed in '${text}'`)
}
