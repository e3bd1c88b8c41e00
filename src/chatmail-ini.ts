/**
 * chatmail.ini: the relay's configuration, an INI file read with the rules of Python's
 * `iniconfig` package (the reader chatmaild uses).
 *
 * - A line whose first non-blank character is `#` or `;` is a comment; blank lines are skipped.
 * - `[name]` starts a section. Text after `#` or `;` on a section line is ignored.
 * - `key = value` (or `key: value`) at the start of a line sets a key; surrounding blanks are
 *   stripped and the value may be empty.
 * - An indented line continues the previous value, joined with a newline.
 * - A key outside any section, an empty section name, a repeated section or key, or any other
 *   line is a parse error.
 */

import { type FileIdentity, readConfigFile } from "./config-file.ts";
import { CliError, describeError } from "./errors.ts";
import { decodeBytes, displayPath, displayText, rawFromUser } from "./raw-path.ts";

export const DEFAULT_CHATMAIL_INI = "/usr/local/lib/chatmaild/chatmail.ini";

/** Sections of an INI file: section name → key → value. */
export type IniSections = Map<string, Map<string, string>>;

/** A parse error with the 1-based line number. */
export class IniParseError extends Error {
  readonly line: number;

  constructor(line: number, message: string) {
    super(message);
    this.name = "IniParseError";
    this.line = line;
  }
}

const COMMENT_CHARS = "#;";

function isCommentLine(line: string): boolean {
  const first = line.trimStart()[0];
  return first !== undefined && COMMENT_CHARS.includes(first);
}

/** Parses INI text with iniconfig's rules. Throws IniParseError. */
export function parseIni(text: string): IniSections {
  // A UTF-8 byte-order mark, as some editors write, is not part of the first line.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const sections: IniSections = new Map();
  let section: Map<string, string> | null = null;
  let lastKey: string | null = null;
  const lines = text.split(/\r\n|\n|\r/);

  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const raw = lines[index]!;
    if (isCommentLine(raw)) continue;
    const line = raw.trimEnd();
    if (line === "") continue;

    const first = line[0]!;
    if (first === "[") {
      let header = line;
      for (const char of COMMENT_CHARS) header = header.split(char)[0]!.trimEnd();
      if (!header.endsWith("]")) throw new IniParseError(lineNumber, `invalid section header: ${displayText(line.trim())}`);
      const name = header.slice(1, -1);
      if (name === "") throw new IniParseError(lineNumber, "empty section name");
      if (sections.has(name)) throw new IniParseError(lineNumber, `duplicate section [${displayText(name)}]`);
      section = new Map();
      sections.set(name, section);
      lastKey = null;
      continue;
    }

    if (first === " " || first === "\t") {
      if (section === null || lastKey === null) {
        throw new IniParseError(lineNumber, "continuation line without a key before it");
      }
      const previous = section.get(lastKey)!;
      section.set(lastKey, previous === "" ? line.trim() : `${previous}\n${line.trim()}`);
      continue;
    }

    let key: string;
    let value: string;
    const equals = line.indexOf("=");
    const nameBeforeEquals = equals >= 0 ? line.slice(0, equals) : "";
    if (equals >= 0 && !nameBeforeEquals.includes(":")) {
      key = nameBeforeEquals.trim();
      value = line.slice(equals + 1).trim();
    } else {
      const colon = line.indexOf(": ");
      if (colon < 0) throw new IniParseError(lineNumber, `unexpected line: ${displayText(line)}`);
      key = line.slice(0, colon).trim();
      value = line.slice(colon + 2).trim();
    }

    if (section === null) throw new IniParseError(lineNumber, `key ${displayText(key)} outside of any section`);
    if (section.has(key)) throw new IniParseError(lineNumber, `duplicate key ${displayText(key)}`);
    section.set(key, value);
    lastKey = key;
  }

  return sections;
}

/** The settings of chatmail.ini that this tool uses, with chatmaild's defaults applied. */
export interface ChatmailConfig {
  /** Path of the ini file, as given. */
  path: string;
  /** The file that was read, so that no output of the run replaces it. */
  identity: FileIdentity;
  mailDomain: string;
  mailboxesDir: string;
  /** max_mailbox_size in bytes. */
  maxMailboxSize: number;
  /** max_mailbox_size as written in the file, such as "100M", for messages. */
  maxMailboxSizeText: string;
  /** delete_inactive_users_after in days. */
  deleteInactiveUsersAfter: number;
}

const MIB = 1024 * 1024;

/**
 * Parses a size such as `500M`, `2G`, `500MB` or `100` into bytes. The suffix is M (MiB) or G
 * (GiB), case-insensitive, with an optional trailing B; no suffix means MiB. Returns undefined
 * when the text is not such a size.
 */
export function parseMailboxSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([mg])?b?\s*$/i.exec(text);
  if (match === null) return undefined;
  const factor = match[2]?.toLowerCase() === "g" ? 1024 * MIB : MIB;
  const bytes = Math.floor(Number(match[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Reads chatmail.ini. Every problem is a CliError (exit 1) naming the file and, where it applies, the key. */
export function readChatmailIni(path: string): ChatmailConfig {
  const displayedPath = displayPath(rawFromUser(path));
  // The path and the text keep bytes that are not valid UTF-8, so that a mailboxes_dir with such
  // bytes names the real directory.
  let text: string;
  let identity: FileIdentity;
  try {
    const file = readConfigFile(path);
    text = decodeBytes(file.content);
    identity = file.identity;
  } catch (error) {
    throw new CliError(`cannot read chatmail.ini ${displayedPath}: ${describeError(error)}`);
  }

  let sections: IniSections;
  try {
    sections = parseIni(text);
  } catch (error) {
    if (error instanceof IniParseError) throw new CliError(`${displayedPath}:${error.line}: ${error.message}`);
    throw error;
  }

  const params = sections.get("params");
  if (params === undefined) throw new CliError(`${displayedPath}: missing [params] section`);

  const mailDomain = params.get("mail_domain") ?? "";
  if (mailDomain === "") throw new CliError(`${displayedPath}: missing mail_domain in [params]`);

  const mailboxesDir = params.get("mailboxes_dir") || `/home/vmail/mail/${mailDomain}`;

  const sizeText = params.get("max_mailbox_size") || "500M";
  const maxMailboxSize = parseMailboxSize(sizeText);
  if (maxMailboxSize === undefined) {
    throw new CliError(`${displayedPath}: invalid max_mailbox_size "${displayText(sizeText)}": expected a size such as 500M or 2G`);
  }

  const daysText = params.get("delete_inactive_users_after") || "90";
  const deleteInactiveUsersAfter = /^\d{1,6}$/.test(daysText) ? Number(daysText) : Number.NaN;
  if (!Number.isSafeInteger(deleteInactiveUsersAfter)) {
    throw new CliError(
      `${displayedPath}: invalid delete_inactive_users_after "${displayText(daysText)}": expected a whole number of days`,
    );
  }

  return {
    path,
    identity,
    mailDomain,
    mailboxesDir,
    maxMailboxSize,
    maxMailboxSizeText: sizeText.trim(),
    deleteInactiveUsersAfter,
  };
}
