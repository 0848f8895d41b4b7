// How `raftlog kv` spells bytes as text (--encoding): exact both ways, and a refusal, never a
// replacement, for text that cannot stand for the bytes.
import { describe, expect, it } from 'vitest'
import { bytesFrom, describeBytes, encodingFrom, outputOf, textOf } from '../../src/cli/kv/encoding.js'
import { describeKvCommand } from '../../src/cli/kv/describe-entry.js'
import { decodeKvCommand, encodeKvCommand } from '../../src/kv/kv-state-machine.js'

describe('kv --encoding', () => {
  it('reads and writes every byte sequence exactly in hex and base64', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    for (const encoding of ['hex', 'base64'] as const) {
      const text = textOf(all, encoding, 'value')
      expect(bytesFrom(text, encoding, 'VALUE')).toEqual(all)
      expect(outputOf(all, encoding).toString()).toBe(text)
    }
    expect(outputOf(all, 'utf8')).toEqual(all)
  })

  it('refuses what cannot stand for bytes instead of guessing', () => {
    expect(() => bytesFrom('abc', 'hex', 'KEY')).toThrow(/KEY "abc" is not hex/)
    expect(() => bytesFrom('/w=', 'base64', 'KEY')).toThrow(/is not base64/)
    expect(() => bytesFrom('a\ufffdb', 'utf8', 'KEY')).toThrow(/holds U\+FFFD/)
    expect(() => bytesFrom('\ud800', 'utf8', 'VALUE')).toThrow(/lone surrogate/)
    expect(() => textOf(Buffer.of(0xff), 'utf8', 'Key')).toThrow(expect.objectContaining({ code: 'ERR_NOT_UTF8', message: 'Key hex:ff is not UTF-8 text: show it with --encoding base64 or hex' }))
    expect(() => encodingFrom('latin1')).toThrow(/--encoding must be utf8, hex, base64/)
    expect(bytesFrom('clé', 'utf8', 'KEY')).toEqual(Buffer.from('clé'))
  })

  it('dump shows text keys quoted and other bytes in hex', () => {
    expect(describeBytes(Buffer.from('greeting'))).toBe('"greeting"')
    expect(describeKvCommand(decodeKvCommand(encodeKvCommand({ op: 'put', key: Buffer.of(0xff, 0x00), value: 'v' })))).toBe('put hex:ff00 "v"')
    expect(describeKvCommand(decodeKvCommand(encodeKvCommand({ op: 'leaseCheckpoint', proposedAt: 5, checkpoints: [{ id: 7, remaining: 240 }, { id: 8, remaining: 0 }] })))).toBe('lease checkpoint: 7 240 s left, 8 kept alive')
  })
})

describe('a configuration entry in dump', () => {
  it('names each member with its address, and leaves out an address the entry does not hold (a many-group replica)', async () => {
    const { describeKvEntry } = await import('../../src/cli/kv/describe-entry.js')
    const { encodeConfiguration } = await import('../../src/raft/core/configuration.js')
    const { EntryType } = await import('../../src/storage/log-entry.js')
    const text = describeKvEntry(5, EntryType.Config, encodeConfiguration({ voters: [1, 2, 4], outgoing: [], learners: [], addresses: { 1: '127.0.0.1:1', 2: '127.0.0.1:2', 4: '' } }))
    expect(text).toContain('(1@127.0.0.1:1, 2@127.0.0.1:2)')
    expect(text).not.toContain('4@')
  })
})
