/**
 * Maildir knowledge shared by every subcommand: Dovecot message file names, the list of mailboxes
 * in a mailboxes directory, last login, and one walk over a mailbox tree.
 *
 * Paths and names are raw strings (see raw-path.ts): one UTF-16 unit per byte.
 */

import { promises as fsp, type Dirent, type Stats } from "node:fs";

import { errorCode } from "./errors.ts";
import { toFsPath } from "./raw-path.ts";

// ---------------------------------------------------------------------------------------------
// Dovecot message file names
// ---------------------------------------------------------------------------------------------

/** Fields of a Dovecot maildir file name; a field is undefined when absent or invalid. */
export interface MessageName {
  /** Delivery time in Unix seconds: the leading digits of the name. */
  deliveryTime: number | undefined;
  /** `S=`: the message size that Dovecot's quota counts, in bytes. */
  size: number | undefined;
  /** `W=`: the virtual size (with CRLF line endings), in bytes. */
  virtualSize: number | undefined;
  /** Maildir flags after `:2,`, such as "S" or "FS". */
  flags: string | undefined;
}

/** Parses a run of ASCII digits; returns undefined for anything else or beyond 2^53. */
function parseDigits(text: string): number | undefined {
  if (text.length === 0 || text.length > 16) return undefined;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return undefined;
  }
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Parses `<time>.M<usec>P<pid>.<host>,S=<size>,W=<vsize>:2,<flags>`. Never throws: a name without
 * these fields, or with empty, non-numeric or absurd values, yields undefined for that field.
 * Sizes follow the rules of quotaSizeFromName, so both always agree.
 */
export function parseMessageName(name: string): MessageName {
  const infoAt = name.indexOf(":2,");
  const base = infoAt >= 0 ? name.slice(0, infoAt) : name;
  const flags = infoAt >= 0 ? name.slice(infoAt + 3) : undefined;

  const dot = base.indexOf(".");
  const deliveryTime = dot > 0 ? parseDigits(base.slice(0, dot)) : undefined;

  return { deliveryTime, size: sizeField(name, ",S="), virtualSize: sizeField(name, ",W="), flags };
}

/**
 * Returns `S=` from a message file name, or undefined. This is the hot-path form of
 * parseMessageName: it allocates nothing for names without `,S=`.
 */
export function quotaSizeFromName(name: string): number | undefined {
  return sizeField(name, ",S=");
}

/**
 * Reads the size field that starts with `marker` (",S=" or ",W="): its first occurrence before
 * the info part, digits up to a `,`, a `:` or the end of the name.
 */
function sizeField(name: string, marker: string): number | undefined {
  const at = name.indexOf(marker);
  if (at < 0) return undefined;

  // The flags after ":2," are not fields: "…:2,S=5" has no size.
  const infoAt = name.indexOf(":2,");
  if (infoAt >= 0 && infoAt < at) return undefined;

  let end = at + marker.length;
  while (end < name.length) {
    const code = name.charCodeAt(end);
    if (code < 48 || code > 57) break;
    end++;
  }

  // The value must end at a field separator, the info part or the end of the name.
  if (end < name.length && name[end] !== "," && name[end] !== ":") return undefined;
  return parseDigits(name.slice(at + marker.length, end));
}

// ---------------------------------------------------------------------------------------------
// Mailboxes
// ---------------------------------------------------------------------------------------------

/** Returns true for the name of a mailbox directory entry: an address, so it contains `@`. */
export function isMailboxName(name: string): boolean {
  return name.includes("@") && !name.startsWith(".");
}

/**
 * Lists the mailboxes of a mailboxes directory, sorted by name: entries whose name contains `@`
 * and that are real directories. Symlinks, files and dot-entries are skipped. Throws the
 * readdir error when the directory itself cannot be read.
 */
export async function listMailboxes(mailboxesDir: string): Promise<string[]> {
  const entries = (await fsp.readdir(toFsPath(mailboxesDir) as string, {
    withFileTypes: true,
    encoding: "latin1",
  })) as unknown as Dirent[];

  const names: string[] = [];
  for (const entry of entries) {
    if (isMailboxName(entry.name) && entry.isDirectory()) names.push(entry.name);
  }

  // Byte order, as `ls` with LC_ALL=C and Python's sorted() on file names give.
  names.sort(compareBytes);
  return names;
}

/** Compares raw names by their bytes. */
export function compareBytes(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/**
 * Reads the last login of a mailbox: the mtime of its `password` file in whole Unix seconds.
 * Returns null when there is no `password` file.
 */
export async function readLastLogin(mailboxPath: string): Promise<number | null> {
  try {
    const stats = await fsp.lstat(toFsPath(`${mailboxPath}/password`));
    return Math.floor(stats.mtimeMs / 1000);
  } catch (error) {
    if (errorCode(error) === "ENOENT" || errorCode(error) === "ENOTDIR") return null;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Walking one mailbox
// ---------------------------------------------------------------------------------------------

export type MessageSubdir = "cur" | "new" | "tmp";

/** One message file: a regular file whose parent directory is named cur, new or tmp. */
export interface MessageFile {
  /** Path of the folder relative to the mailbox: "" for the INBOX, ".DeltaChat" for a subfolder. */
  folder: string;
  subdir: MessageSubdir;
  /** Raw file name. */
  name: string;
  /** Size that Dovecot's quota counts: `S=` from the name, else the stat size. */
  quotaSize: number;
  /** Stat size in bytes; -1 when the walk did not stat this file. */
  diskSize: number;
  /** Modification time in milliseconds; NaN when the walk did not stat this file. */
  mtimeMs: number;
}

/** Walk options: the data a caller needs. The walker stats nothing beyond it. */
export interface WalkOptions {
  /** Stat every message (disk size and mtime). Otherwise only messages without `S=` are statted. */
  statMessages?: boolean;
  /** Stat and count the regular files that are not messages. */
  countExtraFiles?: boolean;
  /** Called once for each directory that cannot be read; the walk goes on without it. */
  onError?: (path: string, error: unknown) => void;
}

/** The result of walking one mailbox. */
export interface MailboxContents {
  /** Raw path of the mailbox directory. */
  path: string;
  messages: MessageFile[];
  /** Regular files that are not messages; counted only with `countExtraFiles`. */
  extraFileCount: number;
  extraFileBytes: number;
  /** Directories that could not be read. */
  unreadableDirs: number;
}

const MESSAGE_SUBDIRS = new Set(["cur", "new", "tmp"]);

/**
 * Max number of stat calls in flight per directory. Bun runs async fs calls on a thread pool,
 * so a batch keeps the kernel busy while JavaScript handles the results of the previous batch.
 */
const STAT_BATCH = 256;

async function readDirectory(path: string, options: WalkOptions, contents: MailboxContents): Promise<Dirent[] | null> {
  // NOTE: readdir follows a symlink that replaced this directory after its parent was listed, so
  // such a race can count files outside the mailbox. Removals do not depend on this: they go
  // through mailbox-directory.ts, which never follows a symlink.
  try {
    return (await fsp.readdir(toFsPath(path) as string, {
      withFileTypes: true,
      encoding: "latin1",
    })) as unknown as Dirent[];
  } catch (error) {
    // A directory that vanished during the walk is no error: its files are gone too.
    const code = errorCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    contents.unreadableDirs++;
    options.onError?.(path, error);
    return null;
  }
}

/**
 * lstat that returns null for a file that vanished, is no longer a regular file, or cannot be
 * statted (that last case is passed to `onError`).
 */
async function statRegularFile(path: string, options: WalkOptions): Promise<Stats | null> {
  try {
    const stats = await fsp.lstat(toFsPath(path));
    return stats.isFile() ? stats : null;
  } catch (error) {
    const code = errorCode(error);
    if (code !== "ENOENT" && code !== "ENOTDIR") options.onError?.(path, error);
    return null;
  }
}

async function walkMessageDir(
  dirPath: string,
  folder: string,
  subdir: MessageSubdir,
  entries: Dirent[],
  options: WalkOptions,
  contents: MailboxContents,
  subdirsOut: Dirent[],
): Promise<void> {
  const pending: Promise<void>[] = [];

  for (const entry of entries) {
    if (entry.isDirectory()) {
      subdirsOut.push(entry);
      continue;
    }
    // Symlinks, FIFOs, sockets and devices are never messages, and never opened.
    if (!entry.isFile()) continue;

    const name = entry.name;
    const sizeFromName = quotaSizeFromName(name);
    if (sizeFromName !== undefined && !options.statMessages) {
      contents.messages.push({ folder, subdir, name, quotaSize: sizeFromName, diskSize: -1, mtimeMs: Number.NaN });
      continue;
    }

    pending.push(
      statRegularFile(`${dirPath}/${name}`, options).then((stats) => {
        if (stats === null) return;
        contents.messages.push({
          folder,
          subdir,
          name,
          quotaSize: sizeFromName ?? stats.size,
          diskSize: stats.size,
          mtimeMs: stats.mtimeMs,
        });
      }),
    );
    if (pending.length >= STAT_BATCH) await Promise.all(pending.splice(0));
  }

  await Promise.all(pending);
}

async function countExtraFiles(
  dirPath: string,
  entries: Dirent[],
  options: WalkOptions,
  contents: MailboxContents,
): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    pending.push(
      statRegularFile(`${dirPath}/${entry.name}`, options).then((stats) => {
        if (stats === null) return;
        contents.extraFileCount++;
        contents.extraFileBytes += stats.size;
      }),
    );
    if (pending.length >= STAT_BATCH) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

/**
 * Walks a directory of the mailbox tree. `relative` is its path below the mailbox ("" for the
 * mailbox itself). Subdirectories are walked concurrently.
 */
async function walkDirectory(
  mailboxPath: string,
  relative: string,
  options: WalkOptions,
  contents: MailboxContents,
): Promise<void> {
  const dirPath = relative === "" ? mailboxPath : `${mailboxPath}/${relative}`;
  const entries = await readDirectory(dirPath, options, contents);
  if (entries === null) return;

  const slash = relative.lastIndexOf("/");
  const dirName = relative.slice(slash + 1);
  const subdirs: Dirent[] = [];

  if (relative !== "" && MESSAGE_SUBDIRS.has(dirName)) {
    const folder = slash < 0 ? "" : relative.slice(0, slash);
    await walkMessageDir(dirPath, folder, dirName as MessageSubdir, entries, options, contents, subdirs);
  } else {
    for (const entry of entries) {
      if (entry.isDirectory()) subdirs.push(entry);
    }
    if (options.countExtraFiles) await countExtraFiles(dirPath, entries, options, contents);
  }

  // Dirent.isDirectory() is false for a symlink to a directory, so symlinks are never followed.
  await Promise.all(
    subdirs.map((entry) =>
      walkDirectory(mailboxPath, relative === "" ? entry.name : `${relative}/${entry.name}`, options, contents),
    ),
  );
}

/**
 * Walks one mailbox: every regular file below it, classified as a message (parent directory
 * named cur, new or tmp) or an extra file. Files and directories that vanish during the walk are
 * skipped; unreadable directories are passed to `onError` and counted. Symlinks are never
 * followed below the mailbox; `mailboxPath` itself may be reached through one. Throws only when
 * `mailboxPath` is missing or not a directory.
 */
export async function walkMailbox(mailboxPath: string, options: WalkOptions = {}): Promise<MailboxContents> {
  const stats = await fsp.stat(toFsPath(mailboxPath));
  if (!stats.isDirectory()) {
    throw Object.assign(new Error(`not a directory: ${mailboxPath}`), { code: "ENOTDIR" });
  }

  const contents: MailboxContents = {
    path: mailboxPath,
    messages: [],
    extraFileCount: 0,
    extraFileBytes: 0,
    unreadableDirs: 0,
  };
  await walkDirectory(mailboxPath, "", options, contents);
  return contents;
}

/** Returns true for a folder whose messages Dovecot's maildir quota counts: the INBOX and Maildir++ dot-folders. */
export function isQuotaFolder(folder: string): boolean {
  return folder === "" || (folder.startsWith(".") && !folder.includes("/"));
}

/** Returns true for a message that counts toward Dovecot's quota: in cur/ or new/ of a quota folder. */
export function countsTowardQuota(message: MessageFile): boolean {
  return message.subdir !== "tmp" && isQuotaFolder(message.folder);
}

/** Returns the base name of a message file: the unique part before the `:2,` flags. */
function messageBaseName(name: string): string {
  const infoAt = name.indexOf(":2,");
  return infoAt >= 0 ? name.slice(0, infoAt) : name;
}

/**
 * Finds the new/ files whose message is also in cur/ of the same folder under the same base name.
 * Dovecot moves a message from new/ to cur/ by a rename, so a walk that reads both directories
 * meanwhile can see the message twice. Only the cur/ file is then counted and removed.
 */
function findNewCopiesInCur(messages: readonly MessageFile[]): Set<MessageFile> {
  const copies = new Set<MessageFile>();

  // Base names of the new/ messages by folder. A mailbox with nothing in new/ costs one pass.
  const newByFolder = new Map<string, Map<string, MessageFile>>();
  for (const message of messages) {
    if (message.subdir !== "new" || !isQuotaFolder(message.folder)) continue;
    let bases = newByFolder.get(message.folder);
    if (bases === undefined) {
      bases = new Map();
      newByFolder.set(message.folder, bases);
    }
    bases.set(messageBaseName(message.name), message);
  }
  if (newByFolder.size === 0) return copies;

  for (const message of messages) {
    if (message.subdir !== "cur") continue;
    const copy = newByFolder.get(message.folder)?.get(messageBaseName(message.name));
    if (copy !== undefined) copies.add(copy);
  }
  return copies;
}

/**
 * Returns the messages that count toward Dovecot's quota, each message once: the files in cur/
 * and new/ of the quota folders, without a new/ file whose message the walk also saw in cur/.
 */
export function quotaMessages(messages: readonly MessageFile[]): MessageFile[] {
  const newCopies = findNewCopiesInCur(messages);
  return messages.filter((message) => countsTowardQuota(message) && !newCopies.has(message));
}

/** Sums the quota usage of a mailbox as Dovecot's maildir quota counts it, in bytes. */
export function quotaUsage(messages: readonly MessageFile[]): number {
  const newCopies = findNewCopiesInCur(messages);
  let total = 0;
  for (const message of messages) {
    if (countsTowardQuota(message) && !newCopies.has(message)) total += message.quotaSize;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Walking every mailbox
// ---------------------------------------------------------------------------------------------

/** One mailbox of a mailboxes directory with its last login and, when walked, its contents. */
export interface Mailbox {
  /** Raw directory name: the address. */
  name: string;
  path: string;
  /** Last login in Unix seconds, or null without a `password` file. */
  lastLogin: number | null;
  contents: MailboxContents;
}

/** Max number of mailboxes walked at once; bounds memory to that many mailboxes. */
const MAILBOX_CONCURRENCY = 8;

/**
 * Walks the given mailboxes of a mailboxes directory, several at a time, and yields each one
 * when it is done (not in name order). A mailbox that vanished before its walk is skipped. A
 * `password` file that cannot be statted is passed to `onError` and gives a null last login.
 */
export async function* walkMailboxes(
  mailboxesDir: string,
  names: readonly string[],
  options: WalkOptions = {},
): AsyncGenerator<Mailbox> {
  const inFlight = new Map<number, Promise<{ id: number; mailbox: Mailbox | null }>>();
  let next = 0;

  const start = (id: number, name: string) => {
    const path = `${mailboxesDir}/${name}`;

    // A `password` file that cannot be statted (in an unreadable mailbox directory) leaves the
    // last login unknown, as a missing one does. The other mailboxes are still walked.
    let passwordError: unknown;
    const lastLogin = readLastLogin(path).catch((error: unknown) => {
      passwordError = error;
      return null;
    });

    // An unreadable mailbox directory makes both the walk and the `password` lstat fail: it is
    // reported once, as the directory.
    let rootUnreadable = false;
    const walkOptions: WalkOptions = {
      ...options,
      onError: (errorPath, error) => {
        if (errorPath === path) rootUnreadable = true;
        options.onError?.(errorPath, error);
      },
    };
    const work = Promise.all([lastLogin, walkMailbox(path, walkOptions)]).then(
      ([lastLogin, contents]) => {
        if (passwordError !== undefined && !rootUnreadable) options.onError?.(`${path}/password`, passwordError);
        return { id, mailbox: { name, path, lastLogin, contents } };
      },
      (error: unknown) => {
        const code = errorCode(error);
        if (code === "ENOENT" || code === "ENOTDIR") return { id, mailbox: null };
        throw error;
      },
    );
    inFlight.set(id, work);
  };

  while (next < names.length || inFlight.size > 0) {
    while (next < names.length && inFlight.size < MAILBOX_CONCURRENCY) {
      start(next, names[next]!);
      next++;
    }
    const done = await Promise.race(inFlight.values());
    inFlight.delete(done.id);
    if (done.mailbox !== null) yield done.mailbox;
  }
}
