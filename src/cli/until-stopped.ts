// Commands that run until the user stops them (dashboard, status --watch) wait here; so does a
// long command that must tidy up when it is stopped (kv load restores the terminal).

/**
 * Resolves with the signal's name on the first SIGINT (Ctrl-C) or SIGTERM; the handlers go with
 * it, or when `done` aborts (then it never resolves).
 */
export function untilStopped(done?: AbortSignal): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    const onSigint = (): void => stop('SIGINT')
    const onSigterm = (): void => stop('SIGTERM')
    const remove = (): void => {
      process.removeListener('SIGINT', onSigint)
      process.removeListener('SIGTERM', onSigterm)
    }
    const stop = (signal: 'SIGINT' | 'SIGTERM'): void => {
      remove()
      resolve(signal)
    }
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
    done?.addEventListener('abort', remove, { once: true })
  })
}
