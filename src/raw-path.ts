/**
 * Byte-exact paths.
 *
 * Maildir file names are bytes, and a name that is not valid UTF-8 would be mangled by a UTF-8
 * decode, so every later stat or unlink on it would miss. The walker therefore reads directories
 * with the `latin1` encoding, which maps each byte to one UTF-16 unit, and keeps paths in that
 * "raw" form. `toFsPath` turns a raw path back into something the fs API takes, and
 * `displayPath` turns it into text for logs.
 */

import { readFileSync } from "node:fs";

const NON_ASCII = /[^\x00-\x7f]/;

/** A low surrogate U+DC80 to U+DCFF that is not the second half of a pair: one escaped byte. */
const ESCAPED_BYTE = /(?<![\ud800-\udbff])[\udc80-\udcff]/;

/**
 * Converts a path given by the user into the raw form. The path is UTF-8 text, except that
 * decodeBytes() escaped each byte that was not valid UTF-8 as U+DC80 to U+DCFF. Those become the
 * bytes again.
 */
export function rawFromUser(path: string): string {
  if (!NON_ASCII.test(path)) return path;
  if (!ESCAPED_BYTE.test(path)) return Buffer.from(path, "utf8").toString("latin1");

  let raw = "";
  for (const char of path) {
    const code = char.charCodeAt(0);
    raw += char.length === 1 && code >= 0xdc80 && code <= 0xdcff ? String.fromCharCode(code - 0xdc00) : Buffer.from(char, "utf8").toString("latin1");
  }
  return raw;
}

// ignoreBOM keeps a leading U+FEFF, which the decoder would otherwise drop, so that a name or
// argument that starts with those bytes keeps them.
const strictUtf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Returns the length of the UTF-8 sequence that `lead` starts, or 0 when no sequence starts with it. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Decodes bytes as UTF-8 and escapes each byte that is not part of valid UTF-8 as U+DC80 to
 * U+DCFF, as Python's `surrogateescape` error handler does. rawFromUser() turns such a string
 * back into the same bytes, so a command-line path that is not valid UTF-8 reaches the file
 * system unchanged. Valid UTF-8 decodes as usual.
 */
export function decodeBytes(bytes: Uint8Array): string {
  try {
    return strictUtf8Decoder.decode(bytes);
  } catch {
    // Not valid UTF-8: decode sequence by sequence below.
  }

  let text = "";
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes[i]!);
    if (length > 0 && i + length <= bytes.length) {
      try {
        text += strictUtf8Decoder.decode(bytes.subarray(i, i + length));
        i += length;
        continue;
      } catch {
        // An invalid sequence: escape its first byte and go on with the next.
      }
    }
    text += String.fromCharCode(0xdc00 + bytes[i]!);
    i++;
  }
  return text;
}

/**
 * Returns the program's arguments after the script with their exact bytes, from
 * /proc/self/cmdline: Bun decodes argv as UTF-8 and replaces invalid bytes with U+FFFD, which
 * would make a mailbox whose name is not valid UTF-8 unreachable. Falls back to `argv` when
 * /proc is not readable or its arguments do not match `argv`.
 */
export function exactArguments(argv: readonly string[]): string[] {
  let cmdline: Buffer;
  try {
    cmdline = readFileSync("/proc/self/cmdline");
  } catch {
    return [...argv];
  }

  const all: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < cmdline.length; i++) {
    if (cmdline[i] === 0) {
      all.push(cmdline.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < cmdline.length) all.push(cmdline.subarray(start));
  if (all.length < argv.length) return [...argv];

  // Bun writes one U+FFFD for a run of invalid bytes where decodeBytes escapes each byte, so runs
  // of either compare as one replacement character.
  const lossy = (text: string) => text.replace(/[\udc80-\udcff\ufffd]+/g, "\ufffd");
  const exact = all.slice(all.length - argv.length).map(decodeBytes);
  for (let i = 0; i < argv.length; i++) {
    if (lossy(exact[i]!) !== lossy(argv[i]!)) return [...argv];
  }
  return exact;
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

/**
 * Formats a raw path for one log line: decoded as UTF-8, control characters escaped. A path that
 * is not valid UTF-8 shows each non-ASCII byte as \xNN.
 */
export function displayPath(raw: string): string {
  if (!NON_ASCII.test(raw)) return escapeForLog(raw);
  const bytes = Buffer.from(raw, "latin1");
  try {
    return escapeForLog(strictUtf8Decoder.decode(bytes));
  } catch {
    let text = "";
    for (const byte of bytes) {
      text += byte < 0x80 ? escapeForLog(String.fromCharCode(byte)) : `\\x${byte.toString(16).padStart(2, "0")}`;
    }
    return text;
  }
}

/** Invisible characters that would hide in a message: C1 controls, zero-width marks, line separators, BOM. */
const INVISIBLE = /[\u0080-\u009f\u200b-\u200f\u2028\u2029\u2060\ufeff]/g;

/**
 * Formats text read from a file (decoded with decodeBytes()) for one message line: bytes that
 * were not valid UTF-8 as \xNN, control characters escaped, and invisible characters such as a
 * stray byte-order mark as \uNNNN.
 */
export function displayText(text: string): string {
  return displayPath(rawFromUser(text)).replace(INVISIBLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
