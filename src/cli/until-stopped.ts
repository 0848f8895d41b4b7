// Commands that run until the user stops them (dashboard, status --watch) wait here.

/** Resolves with the signal's name on the first SIGINT (Ctrl-C) or SIGTERM; the handlers go with it. */
export function untilStopped(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    const onSigint = (): void => done('SIGINT')
    const onSigterm = (): void => done('SIGTERM')
    const done = (signal: 'SIGINT' | 'SIGTERM'): void => {
      process.removeListener('SIGINT', onSigint)
      process.removeListener('SIGTERM', onSigterm)
      resolve(signal)
    }
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
  })
}
