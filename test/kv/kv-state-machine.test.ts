import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decodeKvCommand, decodeKvResult, encodeKvCommand, KvStateMachine, type KeyedKvCommand, type KvCommand, type KvResult } from '../../src/kv/kv-state-machine.js'
import { EntryType } from '../../src/storage/log-entry.js'

// Keys and values are bytes, any bytes, empty included (0xff and 0xfe are two keys, not one U+FFFD).
const text = fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes))
/** raftlog's own commands (etcd's transactions have tests of their own: kv-txn.test.ts). */
const command: fc.Arbitrary<KeyedKvCommand | Extract<KvCommand<Buffer>, { op: 'batch' }>> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key: text, value: text }),
  fc.record({ op: fc.constant('put' as const), key: text, value: text, previous: fc.constant(true) }),
  fc.record({ op: fc.constant('get' as const), key: text }),
  fc.record({ op: fc.constant('delete' as const), key: text }),
  fc.record({ op: fc.constant('cas' as const), key: text, expected: fc.option(text, { nil: null }), value: text }),
  fc.record({ op: fc.constant('batch' as const), puts: fc.array(fc.record({ key: text, value: text }), { maxLength: 5 }) }),
)

function applyAll(machine: KvStateMachine, commands: KvCommand[]): KvResult[] {
  return commands.map((c, i) => decodeKvResult(machine.apply({ index: i + 1, term: 1, type: EntryType.Normal, data: encodeKvCommand(c) })))
}

describe('key-value commands', () => {
  it('decode to what was encoded', () => {
    fc.assert(
      fc.property(command, (c) => {
        expect(decodeKvCommand(encodeKvCommand(c))).toEqual(c)
      }),
    )
  })

  it('carry a lease grant and revoke whole, ids up to 2^53 - 1', () => {
    const grant: KvCommand = { op: 'leaseGrant', id: Number.MAX_SAFE_INTEGER, ttl: 60 }
    expect(decodeKvCommand(encodeKvCommand(grant))).toEqual(grant)
    expect(decodeKvCommand(encodeKvCommand({ op: 'leaseRevoke', id: 7 }))).toEqual({ op: 'leaseRevoke', id: 7 })
  })

  it('carry lease checkpoints whole, and refuse a checkpoint entry whose count and length disagree', () => {
    const checkpoints: KvCommand = { op: 'leaseCheckpoint', proposedAt: 2 ** 40, checkpoints: [{ id: Number.MAX_SAFE_INTEGER, remaining: 0 }, { id: 3, remaining: 250 }] }
    const bytes = encodeKvCommand(checkpoints)
    expect(bytes.length).toBe(13 + 2 * 16)
    expect(decodeKvCommand(bytes)).toEqual(checkpoints)
    expect(() => decodeKvCommand(bytes.subarray(0, bytes.length - 1))).toThrow(/2 lease checkpoints are 45 bytes/)
    expect(() => decodeKvCommand(bytes.subarray(0, 9))).toThrow(/2 lease checkpoints are 45 bytes/)
    const tooMany = Buffer.alloc(13)
    tooMany[0] = 10
    tooMany.writeUInt32LE(1001, 1)
    expect(() => decodeKvCommand(tooMany)).toThrow(/1001 lease checkpoints, more than 1000/)
  })

  it('are compact bytes: a put is 5 bytes plus its key and value', () => {
    expect(encodeKvCommand({ op: 'put', key: 'greeting', value: 'hello' }).length).toBe(5 + 8 + 5)
    expect(encodeKvCommand({ op: 'get', key: 'k' }).length).toBe(6)
  })

  it('tell a cas on an absent key from a cas expecting the empty string', () => {
    expect(decodeKvCommand(encodeKvCommand({ op: 'cas', key: 'k', expected: null, value: 'v' }))).toMatchObject({ expected: null })
    expect(decodeKvCommand(encodeKvCommand({ op: 'cas', key: 'k', expected: '', value: 'v' }))).toMatchObject({ expected: Buffer.alloc(0) })
  })

  it('take a string as its UTF-8 bytes', () => {
    expect(decodeKvCommand(encodeKvCommand({ op: 'put', key: 'clé', value: '値' }))).toEqual({ op: 'put', key: Buffer.from('clé'), value: Buffer.from('値') })
  })

  const malformed: [string, number[], RegExp][] = [
    ['empty bytes', [], /shorter than its 5-byte header/],
    ['a key length past the end', [1, 9, 0, 0, 0, 0x61], /key length 9 runs past the end/],
    ['an unknown operation', [42, 0, 0, 0, 0], /unknown operation 42/],
    ['a lease grant of the wrong length', [8, 1, 0, 0, 0, 0, 0, 0, 0], /a lease grant is 17 bytes/],
    ['a compaction of the wrong length', [7, 0, 0, 0, 0], /a compaction is 9 bytes/],
    ['bytes after a get key', [2, 1, 0, 0, 0, 0x61, 0x62], /1 bytes after the key/],
    ['a cas cut short', [4, 1, 0, 0, 0, 0x61, 1], /without its expected-value length/],
    ['a cas expected value past the end', [4, 0, 0, 0, 0, 5, 0, 0, 0, 0x61], /expected-value length 5 runs past the end/],
    ['a batch of more puts than it holds', [5, 2, 0, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0], /a batch cut short before a key length/],
    ['a batch value past the end', [5, 1, 0, 0, 0, 1, 0, 0, 0, 0x61, 9, 0, 0, 0], /value length 9 runs past the end/],
    ['bytes after the last put of a batch', [5, 0, 0, 0, 0, 0x61], /1 bytes after the last of 0 puts/],
  ]
  for (const [what, bytes, message] of malformed) {
    it(`refuse ${what} with ERR_BAD_COMMAND`, () => {
      expect(() => decodeKvCommand(new Uint8Array(bytes))).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringMatching(message) }))
    })
  }

  it('never throw anything but ERR_BAD_COMMAND for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeKvCommand(bytes)
        } catch (error) {
          expect((error as { code?: string }).code).toBe('ERR_BAD_COMMAND')
        }
      }),
    )
  })
})

describe('KvStateMachine', () => {
  it('answers like a Map for any sequence of commands', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60 }), (commands) => {
        // Keyed by hex: a Map of the bytes themselves, the obvious way.
        const model = new Map<string, Buffer>()
        const hex = (bytes: Buffer): string => bytes.toString('hex')
        const expected = commands.map((c): KvResult => {
          if (c.op === 'batch') {
            for (const { key, value } of c.puts) model.set(hex(key), value)
            return { ok: true }
          }
          const before = model.get(hex(c.key)) ?? null
          if (c.op === 'put') {
            model.set(hex(c.key), c.value)
            return c.previous === true ? { ok: true, value: before } : { ok: true }
          }
          if (c.op === 'delete') return { ok: model.delete(hex(c.key)) }
          if (c.op === 'cas') {
            if ((before === null ? null : hex(before)) !== (c.expected === null ? null : hex(c.expected))) return { ok: false, value: before }
            model.set(hex(c.key), c.value)
          }
          return { ok: true, value: before }
        })
        const machine = new KvStateMachine()
        expect(applyAll(machine, commands)).toEqual(expected)
        expect(machine.size).toBe(model.size)
      }),
    )
  })

  it('puts, gets, compares-and-sets and deletes', () => {
    const results = applyAll(new KvStateMachine(), [
      { op: 'get', key: 'a' },
      { op: 'cas', key: 'a', expected: null, value: '1' },
      { op: 'cas', key: 'a', expected: null, value: '2' },
      { op: 'cas', key: 'a', expected: '1', value: '3' },
      { op: 'put', key: 'a', value: '4', previous: true },
      { op: 'put', key: 'a', value: '5' },
      { op: 'get', key: 'a' },
      { op: 'delete', key: 'a' },
      { op: 'delete', key: 'a' },
    ])
    expect(results).toEqual([
      { ok: true, value: null },
      { ok: true, value: null },
      { ok: false, value: Buffer.from('1') },
      { ok: true, value: Buffer.from('1') },
      { ok: true, value: Buffer.from('3') },
      { ok: true },
      { ok: true, value: Buffer.from('5') },
      { ok: true },
      { ok: false },
    ])
  })

  it('keeps keys that are not UTF-8 apart and exact: 0xff and 0xfe are two keys, sorted by their bytes', () => {
    const machine = new KvStateMachine()
    applyAll(machine, [
      { op: 'put', key: Buffer.of(0xff), value: Buffer.of(0x00, 0xfe) },
      { op: 'put', key: Buffer.of(0xfe), value: 'two' },
      { op: 'put', key: 'z', value: 'text' },
      { op: 'put', key: '\ufffd', value: 'the replacement character itself' },
    ])
    expect(machine.size).toBe(4)
    expect(machine.get(Buffer.of(0xff))).toEqual(Buffer.of(0x00, 0xfe))
    expect(machine.get(Buffer.of(0xfe))).toEqual(Buffer.from('two'))
    // Byte order, as etcd sorts: 'z' (0x7a) < U+FFFD (0xef 0xbf 0xbd) < 0xfe < 0xff.
    expect(machine.scan('', undefined, 10, 1000).pairs.map(([key]) => key.toString('hex'))).toEqual(['7a', 'efbfbd', 'fe', 'ff'])
    expect(machine.scan(Buffer.of(0xff), undefined, 10, 1000).pairs).toEqual([[Buffer.of(0xff), Buffer.of(0x00, 0xfe)]])
  })

  it('answers compact bytes: a plain put is one byte', () => {
    const machine = new KvStateMachine()
    const answer = machine.apply({ index: 1, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key: 'k', value: 'v'.repeat(1000) }) })
    expect(answer.length).toBe(1)
    const get = machine.apply({ index: 2, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'get', key: 'k' }) })
    expect(get.length).toBe(1001)
  })
})

describe('KvStateMachine snapshots', () => {
  async function* cut(bytes: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
    let offset = 0
    for (let i = 0; offset < bytes.length; i++) {
      const size = sizes[i % sizes.length]!
      yield bytes.subarray(offset, offset + size)
      offset += size
    }
  }

  async function bytesOf(machine: KvStateMachine): Promise<Buffer> {
    const parts: Uint8Array[] = []
    for await (const chunk of machine.snapshot()) parts.push(chunk)
    return Buffer.concat(parts)
  }

  it('restores exactly the pairs of the moment the snapshot was taken, from chunks cut anywhere', async () => {
    const machine = new KvStateMachine()
    let index = 0
    const put = (key: string, value: string): void => void machine.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key, value }) })
    for (let i = 0; i < 5000; i++) put(`key-${i}`, `value-${i}-${'v'.repeat(i % 50)}`)
    put('', '')
    put('ünïcödé', '値')
    machine.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key: Buffer.of(0xff, 0x00), value: Buffer.of(0xfe) }) })
    const snapshot = machine.snapshot()
    put('later', 'not in the snapshot')
    const parts: Uint8Array[] = []
    for await (const chunk of snapshot) parts.push(chunk)
    const bytes = Buffer.concat(parts)
    for (const sizes of [[1], [7, 3, 1000], [bytes.length]]) {
      const restored = new KvStateMachine()
      await restored.restore(cut(bytes, sizes))
      expect(restored.size).toBe(5003)
      expect(restored.get(Buffer.of(0xff, 0x00))).toEqual(Buffer.of(0xfe))
      expect(restored.get('ünïcödé')).toEqual(Buffer.from('値'))
      expect(await bytesOf(restored)).toEqual(bytes)
    }
  })

  it('reads a snapshot written while keys were UTF-8 text (the same records: their UTF-8 bytes)', async () => {
    const record = (key: string, value: string): Buffer => {
      const [k, v] = [Buffer.from(key), Buffer.from(value)]
      const head = Buffer.alloc(5)
      head[0] = 1
      head.writeUInt32LE(k.length, 1)
      const middle = Buffer.alloc(4)
      middle.writeUInt32LE(v.length)
      return Buffer.concat([head, k, middle, v])
    }
    const old = Buffer.concat([Buffer.from('KVS1'), record('clé', 'välue'), record('a', ''), Buffer.from([0xff])])
    const restored = new KvStateMachine()
    await restored.restore(cut(old, [4]))
    expect([restored.get('clé'), restored.get('a'), restored.size]).toEqual([Buffer.from('välue'), Buffer.alloc(0), 2])
  })

  it('refuses bytes that are not a snapshot, cut short, or followed by more', async () => {
    const machine = new KvStateMachine()
    machine.apply({ index: 1, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key: 'k', value: 'v' }) })
    const bytes = await bytesOf(machine)
    for (const broken of [Buffer.from('nope'), bytes.subarray(0, bytes.length - 1), bytes.subarray(0, 9), Buffer.concat([bytes, Buffer.from([0])])]) {
      await expect(new KvStateMachine().restore(cut(broken, [3]))).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringMatching(/^Not a key-value snapshot: /) })
    }
  })
})
