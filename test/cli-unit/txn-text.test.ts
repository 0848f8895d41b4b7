// etcdctl's transaction text as `raftlog txn` reads it: compares, a blank line, the success
// operations, a blank line, the failure operations; refusals name the line.
import { describe, expect, it } from 'vitest'
import { parseCompare, parseOperation, parseTxnText, splitWords, txnSections } from '../../src/cli/kv/txn-text.js'

const b = (text: string): Buffer => Buffer.from(text)

describe('txn text', () => {
  it("reads etcdctl's example: compares, success operations, failure operations", () => {
    const text = 'mod("key1") > "0"\n\nput key1 "overwrote-key1"\n\nput key1 "created-key1"\nput key2 "some extra key"\n\n'
    expect(parseTxnText(text, 'utf8')).toEqual({
      compare: [{ key: b('key1'), target: 'mod', result: 'greater', operand: 0 }],
      success: [{ put: { key: b('key1'), value: b('overwrote-key1') } }],
      failure: [
        { put: { key: b('key1'), value: b('created-key1') } },
        { put: { key: b('key2'), value: b('some extra key') } },
      ],
    })
  })

  it('takes every target by its names, every comparison, and numbers with or without quotes', () => {
    const compare = (line: string) => parseCompare(line, 'utf8', 'line 1')
    expect(compare('value("k") = "v"')).toEqual({ key: b('k'), target: 'value', result: 'equal', operand: b('v') })
    expect(compare('val("k") != ""')).toEqual({ key: b('k'), target: 'value', result: 'not_equal', operand: b('') })
    expect(compare('version("k") < "3"')).toMatchObject({ target: 'version', result: 'less', operand: 3 })
    expect(compare('ver("k") = 0')).toMatchObject({ target: 'version', result: 'equal', operand: 0 })
    expect(compare('create("k") > "12"')).toMatchObject({ target: 'create', result: 'greater', operand: 12 })
    expect(compare('c("k") = "1"')).toMatchObject({ target: 'create' })
    expect(compare('m("k")="7"')).toMatchObject({ target: 'mod', operand: 7 })
    expect(compare('  lease("k") = "0"  ')).toMatchObject({ target: 'lease', operand: 0 })
    expect(compare('value("a \\"quoted\\" key\\n") = `raw \\n`')).toEqual({ key: b('a "quoted" key\n'), target: 'value', result: 'equal', operand: b('raw \\n') })
  })

  it('reads put, get and del lines with their flags, quoted words and range ends', () => {
    const op = (line: string) => parseOperation(line, 'utf8', 'line 3')
    expect(op('put k v --prev-kv')).toEqual({ put: { key: b('k'), value: b('v'), prevKv: true } })
    expect(op('put "a key" ""')).toEqual({ put: { key: b('a key'), value: b('') } })
    expect(op('get k')).toEqual({ range: { key: b('k') } })
    expect(op('get app/ --prefix --keys-only --limit 2 --rev=4 --sort-by modify --order DESCEND')).toEqual({
      range: { key: b('app/'), prefix: true, keysOnly: true, limit: 2, revision: 4, sortTarget: 'mod', sortOrder: 'descend' },
    })
    expect(op('get a c')).toEqual({ range: { key: b('a'), rangeEnd: b('c') } })
    expect(op('get a --from-key --count-only')).toEqual({ range: { key: b('a'), fromKey: true, countOnly: true } })
    expect(op('del app/ --prefix --prev-kv')).toEqual({ deleteRange: { key: b('app/'), prefix: true, prevKv: true } })
    expect(op('del a c')).toEqual({ deleteRange: { key: b('a'), rangeEnd: b('c') } })
  })

  it('reads keys and values in hex or base64 with --encoding', () => {
    const txn = parseTxnText('value("ff00") = "0a"\n\nput ff00 0b\n', 'hex')
    expect(txn.compare).toEqual([{ key: Buffer.from([0xff, 0]), target: 'value', result: 'equal', operand: Buffer.from([0x0a]) }])
    expect(txn.success).toEqual([{ put: { key: Buffer.from([0xff, 0]), value: Buffer.from([0x0b]) } }])
    expect(() => parseTxnText('\n\nput zz 0b\n', 'hex')).toThrow(/line 3: the key "zz" is not hex/)
  })

  it('splits sections at blank lines (CRLF too), with or without a final blank line; parts may be empty', () => {
    expect(txnSections('a\r\n\r\nb\r\nc\r\n\r\nd')).toEqual([[[1, 'a']], [[3, 'b'], [4, 'c']], [[6, 'd']]])
    expect(txnSections('\n\nput k v\n\n')).toEqual([[], [], [[3, 'put k v']]])
    expect(parseTxnText('\nput k v\n', 'utf8')).toEqual({ compare: [], success: [{ put: { key: b('k'), value: b('v') } }], failure: [] })
    expect(parseTxnText('', 'utf8')).toEqual({ compare: [], success: [], failure: [] })
  })

  it('splits words at spaces and tabs, quotes holding them', () => {
    expect(splitWords('  put\t"a b"  c`d e`f ""', 'x')).toEqual(['put', 'a b', 'cd ef', ''])
  })

  it('refuses what is not a transaction, naming the line and saying what a line should be', () => {
    const refusal = (text: string) => {
      try {
        parseTxnText(text, 'utf8', 'txn.txt')
      } catch (error) {
        return (error as Error).message
      }
      return 'accepted'
    }
    expect(refusal('valu("k") = "v"\n')).toMatch(/^txn\.txt line 1: not a compare: 'valu\("k"\) = "v"' \(a compare is TARGET\("KEY"\) OP "VALUE"/)
    expect(refusal('put k v\n')).toMatch(/^txn\.txt line 1: not a compare/)
    expect(refusal('value("k") => "v"\n')).toBe(`txn.txt line 1: the comparison must be =, !=, < or >, in 'value("k") => "v"'`)
    expect(refusal('value("k") = v\n')).toBe(`txn.txt line 1: the value to compare with must be in double quotes, in 'value("k") = v'`)
    expect(refusal('mod("k") = "seven"\n')).toBe("txn.txt line 1: a mod compare takes a whole number, got 'seven'")
    expect(refusal('value("k = "v"\n')).toMatch(/^txn\.txt line 1: a '\)' must follow the key/)
    expect(refusal('value("k) = "v\n')).toMatch(/^txn\.txt line 1: a '\)' must follow the key|is not closed/)
    expect(refusal('\nput k\n')).toBe('txn.txt line 2: put takes a KEY and a VALUE (put KEY VALUE [--prev-kv]), got 1 word')
    expect(refusal('\nupdate k v\n')).toMatch(/^txn\.txt line 2: not an operation: 'update k v' \(an operation is put, get or del/)
    expect(refusal('\nget k --bogus\n')).toMatch(/^txn\.txt line 2: Unknown option '--bogus'/)
    expect(refusal('\nget k --prefix --from-key\n')).toBe('txn.txt line 2: --prefix and --from-key do not go together: give one')
    expect(refusal('\nget k --rev 0\n')).toBe("txn.txt line 2: --rev must be a whole number from 1, got '0'")
    expect(refusal('\nput k v --lease 5\n')).toBe('txn.txt line 2: --lease: raftlog serves no leases yet')
    expect(refusal('\nput "k\\xff" v\n')).toMatch(/line 2: '\\xff' is a byte that is not UTF-8 text on its own: write such keys and values with --encoding hex or base64/)
    expect(refusal('\n\nput k v\n\nmore\n')).toBe("txn.txt line 5: text after the failure operations (the compares, the success operations and the failure operations are three parts, each ended by a blank line): 'more'")
  })
})
