// Text another process sent (a peer's error text, the cluster id a batch claims) on its way into a
// log line. Control and direction characters are escaped, so a newline cannot forge a line of
// its own nor an escape sequence repaint a terminal, and the text is cut to a bound, so a long
// string cannot fill the log every time it is reported.

/** Longest text from another process quoted in one log line, in UTF-16 units. */
export const maxLogTextChars = 200

/** C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides. */
const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** `text` with every control and direction character escaped as \uXXXX: one line, shown as it is. */
export function escapeControls(text: string): string {
  return text.replace(unsafe, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** `text` escaped (escapeControls) and cut to `max` characters, saying how many more there were. */
export function logText(text: string, max = maxLogTextChars): string {
  const escaped = escapeControls(text.length > max ? text.slice(0, max) : text)
  return text.length > max ? `${escaped}… (${text.length - max} more characters)` : escaped
}

/** `text` quoted for a log line, with its length when it was cut: `"abc…" (8388608 characters)`. */
export function describeText(text: string, max = 32): string {
  return text.length > max ? `"${logText(text.slice(0, max), max)}…" (${text.length} characters)` : `"${logText(text, max)}"`
}
