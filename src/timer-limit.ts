/**
 * The longest delay a Node.js timer waits, in ms (2^31 − 1, about 24.8 days): setTimeout and
 * setInterval fire after 1 ms for anything longer, with a TimeoutOverflowWarning. Timeouts that
 * users give are checked against it; intervals derived from user values are capped by it.
 */
export const maxTimerMs = 2 ** 31 - 1
