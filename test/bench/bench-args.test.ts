// Every bench script's command line: --help prints its usage, a mistake is refused before any work.
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { benchArgs, positiveOption, wholeOption } from '../../bench/bench-args.js'

const usage = 'Usage: npm run bench:example [-- --seconds S]'

/** Runs `run`, with process.exit throwing its code instead, and returns the code and what was printed. */
function exited(run: () => void): { code: number | undefined; out: string; err: string } {
  let out = ''
  let err = ''
  vi.spyOn(console, 'log').mockImplementation((text: string) => void (out += text))
  vi.spyOn(console, 'error').mockImplementation((text: string) => void (err += text))
  vi.spyOn(process, 'exit').mockImplementation((code) => {
    throw Object.assign(new Error('exit'), { exitCode: code })
  })
  try {
    run()
    return { code: undefined, out, err }
  } catch (error) {
    return { code: (error as { exitCode?: number }).exitCode, out, err }
  }
}

afterEach(() => vi.restoreAllMocks())

describe('benchArgs', () => {
  it('prints the usage for --help and -h and exits 0', () => {
    for (const flag of ['--help', '-h']) {
      const result = exited(() => benchArgs(usage, { seconds: { type: 'string' } }, [flag]))
      expect(result).toEqual({ code: 0, out: usage, err: '' })
    }
  })

  it('refuses an unknown option or a positional with the problem and the usage, exit 2', () => {
    const unknown = exited(() => benchArgs(usage, { seconds: { type: 'string' } }, ['--secs', '3']))
    expect(unknown.code).toBe(2)
    expect(unknown.err).toContain("Unknown option '--secs'")
    expect(unknown.err).toContain(usage)
    expect(exited(() => benchArgs(usage, {}, ['extra'])).code).toBe(2)
  })

  it('returns the options given', () => {
    expect(benchArgs(usage, { seconds: { type: 'string' }, quick: { type: 'boolean' } }, ['--seconds', '2', '--quick'])).toEqual({ seconds: '2', quick: true })
  })

  it('takes numbers only in their range, naming the option', () => {
    expect(positiveOption(usage, 'seconds', undefined, 3)).toBe(3)
    expect(positiveOption(usage, 'seconds', '0.5', 3)).toBe(0.5)
    for (const bad of ['abc', '0', '-1', '']) {
      const result = exited(() => positiveOption(usage, 'seconds', bad, 3))
      expect(result.code, bad).toBe(2)
      expect(result.err).toContain(`--seconds must be a positive number, got '${bad}'`)
    }
    expect(exited(() => positiveOption(usage, 'payload', '1.5', 100, true)).err).toContain('--payload must be a positive whole number')
    expect(wholeOption(usage, 'puts', '0', 100)).toBe(0)
    expect(exited(() => wholeOption(usage, 'puts', '2.5', 100)).code).toBe(2)
  })
})

describe('the bench scripts of package.json', () => {
  it('each reads its command line through benchArgs or its own --help', () => {
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts
    const entries = Object.entries(scripts).filter(([name]) => name.startsWith('bench'))
    expect(entries.length).toBeGreaterThanOrEqual(8)
    for (const [name, command] of entries) {
      const script = /dist-bench\/(bench\/[\w-]+)\.js/.exec(command)?.[1]
      expect(script, name).toBeDefined()
      const source = readFileSync(`${script as string}.ts`, 'utf8')
      expect(source.includes('benchArgs(') || /help: \{ type: 'boolean'/.test(source) || source.includes('Usage:'), `${name} (${script as string}.ts) answers --help`).toBe(true)
    }
  })
})
