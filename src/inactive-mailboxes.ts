/**
 * Finding and removing the mailboxes of accounts that stopped logging in.
 *
 * The last login of an account is the mtime of its mailbox's `password` file, so deciding needs
 * one lstat per mailbox and never a walk of its messages. A mailbox is removed in two steps:
 * it is renamed to a dot-name inside the mailboxes directory, which Dovecot and listMailboxes()
 * ignore, and then that tree is deleted. A run that is killed in between leaves the dot-name,
 * and the next removing run finishes it.
 *
 * Paths and names are raw strings (see raw-path.ts).
 */

import { createHash } from "node:crypto";
import { promises as fsp, type Stats } from "node:fs";

import { errorCode } from "./errors.ts";
import { listSubdirectories, readLastLogin } from "./maildir.ts";
import { toFsPath } from "./raw-path.ts";

/** Prefix of the dot-name a mailbox is renamed to before its tree is deleted. */
export const REMOVAL_PREFIX = ".expire-inactive-";

/** Max bytes of one file name (NAME_MAX on Linux, for ext4, XFS and Btrfs alike). */
const NAME_MAX = 255;

export const SECONDS_PER_DAY = 86_400;

/** Max number of mailboxes statted at once during the scan. */
const SCAN_CONCURRENCY = 32;

/** The scan's verdict on one mailbox. */
export type MailboxVerdict =
  /** Last login strictly older than the cutoff: to be removed. */
  | "inactive"
  /** No `password` and an empty directory: to be removed. */
  | "empty"
  /** Last login at or after the cutoff, including a last login in the future. */
  | "active"
  /** `password` with mtime 0: the last login is unknown, so the mailbox stays. */
  | "unknown-login"
  /** No `password` but the directory is not empty: the mailbox stays and is reported. */
  | "no-password"
  /** The mailbox directory disappeared since it was listed. */
  | "vanished"
  /** The mailbox could not be examined: it stays and the run fails at the end. */
  | "error";

export interface ScannedMailbox {
  /** Raw directory name: the address. */
  name: string;
  verdict: MailboxVerdict;
  /** Last login in Unix seconds, or null without `password`. */
  lastLogin: number | null;
  /** The error behind the verdict "error". */
  error?: unknown;
}

/** Returns true when a mailbox with this last login expires at `cutoff` (Unix seconds). */
export function isInactive(lastLogin: number | null, cutoff: number): boolean {
  // A last login of 0 is a reset mtime, not a login in 1970: it never expires a mailbox.
  return lastLogin !== null && lastLogin !== 0 && lastLogin < cutoff;
}

/** Returns true when a directory has no entries at all; throws when it cannot be read. */
async function isEmptyDirectory(path: string): Promise<boolean> {
  const entries = await fsp.readdir(toFsPath(path) as string, { encoding: "latin1" });
  return entries.length === 0;
}

/**
 * Returns the dot-name a mailbox is renamed to before its tree is deleted: REMOVAL_PREFIX and
 * the address. When that exceeds NAME_MAX (addresses above 238 bytes), the address is replaced
 * by its SHA-256 in hex. That form cannot be the dot-name of another mailbox, because a
 * mailbox name contains `@` and hex digits do not, and listLeftovers() finds it by its prefix.
 */
export function removalName(name: string): string {
  const plain = `${REMOVAL_PREFIX}${name}`;
  // Raw names hold one byte per character, so length is the length in bytes.
  if (plain.length <= NAME_MAX) return plain;
  return `${REMOVAL_PREFIX}${createHash("sha256").update(name, "latin1").digest("hex")}`;
}

/** Decides the fate of one mailbox from the lstat of its `password` and, without one, a readdir of its root. */
export async function scanMailbox(mailboxesDir: string, name: string, cutoff: number): Promise<ScannedMailbox> {
  const path = `${mailboxesDir}/${name}`;
  try {
    const lastLogin = await readLastLogin(path);
    if (lastLogin === null) {
      const verdict = (await isEmptyDirectory(path)) ? "empty" : "no-password";
      return { name, verdict, lastLogin };
    }
    if (lastLogin === 0) return { name, verdict: "unknown-login", lastLogin };
    return { name, verdict: isInactive(lastLogin, cutoff) ? "inactive" : "active", lastLogin };
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return { name, verdict: "vanished", lastLogin: null };
    return { name, verdict: "error", lastLogin: null, error };
  }
}

/**
 * Scans the given mailboxes, several at a time, and returns their verdicts in the order of
 * `names`. `onScanned` is called after each mailbox, for progress display.
 */
export async function scanMailboxes(
  mailboxesDir: string,
  names: readonly string[],
  cutoff: number,
  onScanned: (done: number) => void = () => {},
): Promise<ScannedMailbox[]> {
  const results: ScannedMailbox[] = new Array(names.length);
  let next = 0;
  let done = 0;

  const worker = async () => {
    while (next < names.length) {
      const index = next++;
      results[index] = await scanMailbox(mailboxesDir, names[index]!, cutoff);
      done++;
      onScanned(done);
    }
  };

  await Promise.all(Array.from({ length: Math.min(SCAN_CONCURRENCY, names.length) }, worker));
  return results;
}

export type RemovalOutcome =
  | { status: "removed" }
  /** The rescan gave another verdict: the mailbox stays. */
  | { status: "kept"; now: ScannedMailbox }
  /** The mailbox directory disappeared before the rename: someone else removed it. */
  | { status: "vanished" }
  | { status: "failed"; step: "rename" | "delete"; error: unknown };

/**
 * Removes one selected mailbox: rescans it, renames it to its removal dot-name and deletes that
 * tree. Symlinks inside the tree are removed, never followed. When the delete fails, the
 * dot-name stays behind for the next run to finish.
 */
export async function removeMailbox(mailboxesDir: string, selected: ScannedMailbox, cutoff: number): Promise<RemovalOutcome> {
  // An account that logged in since the scan, or an empty mailbox that got files meanwhile,
  // keeps its mailbox: it may go only when the verdict is still the same.
  const now = await scanMailbox(mailboxesDir, selected.name, cutoff);
  if (now.verdict === "vanished") return { status: "vanished" };
  if (now.verdict !== selected.verdict) return { status: "kept", now };

  // NOTE: a login in the microseconds between the rescan above and this rename is not seen.
  const path = `${mailboxesDir}/${selected.name}`;
  const removalPath = `${mailboxesDir}/${removalName(selected.name)}`;
  try {
    await fsp.rename(toFsPath(path), toFsPath(removalPath));
  } catch (error) {
    if (errorCode(error) === "ENOENT") return { status: "vanished" };
    return { status: "failed", step: "rename", error };
  }

  try {
    await deleteTree(removalPath);
  } catch (error) {
    return { status: "failed", step: "delete", error };
  }
  return { status: "removed" };
}

/**
 * Deletes a directory tree. fs.rm with `recursive` unlinks symlinks instead of following them.
 *
 * Another process may be deleting the same tree: chatmaild's chatmail-expire, for one, goes on
 * deleting inside a mailbox that this tool renamed under it. Bun's fs.rm (1.4.5) gives up with
 * ENOENT at the first entry that the other process deleted first, so the delete then goes on
 * entry by entry, skipping whatever is already gone. A tree that is gone counts as deleted.
 */
async function deleteTree(path: string): Promise<void> {
  try {
    await fsp.rm(toFsPath(path), { recursive: true, force: false });
  } catch (error) {
    if (errorCode(error) !== "ENOENT") throw error;
    await deleteRemainingTree(path);
  }
}

/** Deletes what is left of a tree without following symlinks, skipping entries that vanish meanwhile. */
async function deleteRemainingTree(path: string): Promise<void> {
  let stats: Stats;
  try {
    stats = await fsp.lstat(toFsPath(path));
  } catch (error) {
    if (errorCode(error) === "ENOENT") return;
    throw error;
  }
  if (!stats.isDirectory()) {
    await ignoreMissing(fsp.unlink(toFsPath(path)));
    return;
  }

  let names: string[];
  try {
    names = (await fsp.readdir(toFsPath(path) as string, { encoding: "latin1" })) as string[];
  } catch (error) {
    if (errorCode(error) === "ENOENT") return;
    throw error;
  }
  for (const name of names) await deleteRemainingTree(`${path}/${name}`);

  await ignoreMissing(fsp.rmdir(toFsPath(path)));
}

async function ignoreMissing(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if (errorCode(error) !== "ENOENT") throw error;
  }
}

/**
 * Lists the removal dot-names left by interrupted runs: real directories whose name starts with
 * REMOVAL_PREFIX. Entries of other programs and symlinks are never touched.
 */
export async function listLeftovers(mailboxesDir: string): Promise<string[]> {
  return listSubdirectories(mailboxesDir, (name) => name.startsWith(REMOVAL_PREFIX));
}

/** Deletes one leftover removal directory found by listLeftovers(). */
export async function finishLeftover(mailboxesDir: string, leftoverName: string): Promise<void> {
  await deleteTree(`${mailboxesDir}/${leftoverName}`);
}

/** The figures the mass-deletion guard compares. */
export interface GuardCheck {
  /** Mailboxes with data that the run would remove. */
  removals: number;
  /** Mailboxes with data that the run examined. */
  examined: number;
  fraction: number;
  trips: boolean;
}

/**
 * Decides whether a run would remove too many mailboxes. Only mailboxes that can hold data
 * count: an empty directory without `password` loses nothing when removed, so it counts neither
 * as a removal nor as examined. Otherwise a relay with many empty directories could lose all of
 * its real accounts to a wrong clock without the guard noticing.
 */
export function checkGuard(scanned: readonly ScannedMailbox[], maxFraction: number): GuardCheck {
  let removals = 0;
  let examined = 0;
  for (const mailbox of scanned) {
    if (mailbox.verdict === "empty" || mailbox.verdict === "vanished") continue;
    examined++;
    if (mailbox.verdict === "inactive") removals++;
  }

  const fraction = examined === 0 ? 0 : removals / examined;
  return { removals, examined, fraction, trips: fraction > maxFraction };
}
