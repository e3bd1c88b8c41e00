/**
 * Byte-exact paths.
 *
 * Maildir file names are bytes, and a name that is not valid UTF-8 would be mangled by a UTF-8
 * decode, so every later stat or unlink on it would miss. The walker therefore reads directories
 * with the `latin1` encoding, which maps each byte to one UTF-16 unit, and keeps paths in that
 * "raw" form. `toFsPath` turns a raw path back into something the fs API takes, and
 * `displayPath` turns it into text for logs.
 */

const NON_ASCII = /[^\x00-\x7f]/;

/** Converts a path given by the user (a UTF-8 string) into the raw form. */
export function rawFromUser(path: string): string {
  return NON_ASCII.test(path) ? Buffer.from(path, "utf8").toString("latin1") : path;
}

/** Returns a value the fs API accepts for a raw path: the string itself when it is ASCII. */
export function toFsPath(raw: string): string | Buffer {
  return NON_ASCII.test(raw) ? Buffer.from(raw, "latin1") : raw;
}

/** Escapes control characters and backslashes so that a name always stays on one log line. */
export function escapeForLog(text: string): string {
  return text.replace(/[\x00-\x1f\x7f\\]/g, (char) => {
    if (char === "\\") return "\\\\";
    if (char === "\n") return "\\n";
    if (char === "\t") return "\\t";
    if (char === "\r") return "\\r";
    return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/** Replaces control characters with \xNN so that any message stays on one line. */
export function escapeControlCharacters(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Formats a raw path for one log line: decoded as UTF-8, control characters escaped. A path that
 * is not valid UTF-8 shows each non-ASCII byte as \xNN.
 */
export function displayPath(raw: string): string {
  if (!NON_ASCII.test(raw)) return escapeForLog(raw);
  const bytes = Buffer.from(raw, "latin1");
  try {
    return escapeForLog(strictUtf8.decode(bytes));
  } catch {
    let text = "";
    for (const byte of bytes) {
      text += byte < 0x80 ? escapeForLog(String.fromCharCode(byte)) : `\\x${byte.toString(16).padStart(2, "0")}`;
    }
    return text;
  }
}
