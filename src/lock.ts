/**
 * Directory locks: flock(2) on a directory itself, called through libc. quota-expire locks each
 * mailbox it trims, and expire-inactive --remove locks mailboxes_dir.
 *
 * flock was chosen over a lock file because the kernel drops the lock when its holder exits,
 * even by SIGKILL, so no stale-lock detection (owner pid, age) is needed and nothing is written.
 * flock locks are advisory: they make only other flock callers on the same directory wait.
 */

import { closeSync, openSync, readFileSync } from "node:fs";

import { CliError, describeError } from "./errors.ts";
import { displayPath, toFsPath } from "./raw-path.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;
const EWOULDBLOCK = 11;

/** Interval between two attempts while another run holds the lock, in milliseconds. */
const RETRY_INTERVAL_MS = 20;

interface LibcFlock {
  flock(fd: number, operation: number): number;
  errno(): number;
}

let libc: LibcFlock | undefined;

/**
 * Loads flock and errno from glibc. The compiled binaries are built on Bun's glibc runtimes, so
 * libc.so.6 is present wherever they run.
 */
async function loadLibc(): Promise<LibcFlock> {
  if (libc !== undefined) return libc;

  const { dlopen, FFIType, read } = await import("bun:ffi");
  const library = dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });

  libc = {
    flock: (fd, operation) => library.symbols.flock(fd, operation),
    errno: () => {
      const pointer = library.symbols.__errno_location();
      return pointer === null ? 0 : read.i32(pointer, 0);
    },
  };
  return libc;
}

/**
 * Explains the usual cause of a failed bun:ffi load and names `fix`. Bun turns its JIT off when
 * the address-space limit (RLIMIT_AS) is below about 2.3 GiB (measured with Bun 1.4.5 on x64),
 * and bun:ffi needs the JIT.
 */
function addressSpaceHint(fix: string): string {
  let limits: string;
  try {
    limits = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return "";
  }
  const match = /^Max address space\s+(\d+)/m.exec(limits);
  if (match === null) return "";
  const mebibytes = Math.floor(Number(match[1]) / 1024 / 1024);
  return ` (the address-space limit is ${mebibytes} MiB: ${fix})`;
}

export interface DirectoryLock {
  /** Time spent waiting for another run to release the lock, in milliseconds. */
  waitedMs: number;
  /** Releases the lock. Exiting the process releases it too. */
  release(): void;
}

export interface LockOptions {
  /** The run that takes the lock, as messages name it: "quota-expire" or "expire-inactive --remove". */
  command: string;
  /** The lock as "cannot lock …" errors name it. Default: the directory's path. */
  description?: string;
  /**
   * How long to wait for another run to release the lock, in milliseconds. Without it the call
   * fails at once when another run holds the lock.
   */
  timeoutMs?: number;
  /** Fix named in the error message when the address-space limit keeps bun:ffi from loading. */
  addressSpaceFix: string;
}

/**
 * Takes the exclusive flock of a directory. Throws a CliError when the directory cannot be
 * opened, bun:ffi or flock fails, or another run holds the lock: at once without
 * `timeoutMs`, otherwise once the wait exceeds it.
 */
export async function lockDirectory(path: string, options: LockOptions): Promise<DirectoryLock> {
  const description = options.description ?? displayPath(path);

  let functions: LibcFlock;
  try {
    functions = await loadLibc();
  } catch (error) {
    throw new CliError(
      `cannot lock ${description}: loading flock from libc.so.6 failed: ${describeError(error)}${addressSpaceHint(options.addressSpaceFix)}`,
    );
  }

  let fd: number;
  try {
    fd = openSync(toFsPath(path), "r");
  } catch (error) {
    throw new CliError(`cannot lock ${description}: ${describeError(error)}`);
  }

  const started = performance.now();
  let waited = false;
  for (;;) {
    if (functions.flock(fd, LOCK_EX | LOCK_NB) === 0) break;

    const errno = functions.errno();
    if (errno === EINTR) continue;
    if (errno !== EWOULDBLOCK) {
      closeSync(fd);
      throw new CliError(`cannot lock ${description}: flock failed with errno ${errno}`);
    }

    if (options.timeoutMs === undefined) {
      closeSync(fd);
      throw new CliError(`another ${options.command} run is working on ${displayPath(path)}`);
    }
    if (performance.now() - started > options.timeoutMs) {
      closeSync(fd);
      throw new CliError(
        `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for another ${options.command} run on ${displayPath(path)} to finish`,
      );
    }
    waited = true;
    await Bun.sleep(RETRY_INTERVAL_MS);
  }

  // A lock taken on the first try did not wait for another run, however long the call itself
  // took on a loaded machine, so it reports no wait.
  const waitedMs = waited ? performance.now() - started : 0;
  let released = false;
  return {
    waitedMs,
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}

/**
 * Takes quota-expire's lock of a mailbox, waiting up to `timeoutMs` while another run holds it.
 * quota-expire runs under Dovecot, whose vsz_limit (256 MiB by default) becomes the process's
 * address-space limit, so a failed bun:ffi load names that setting.
 */
export function lockMailbox(mailboxPath: string, timeoutMs: number): Promise<DirectoryLock> {
  return lockDirectory(mailboxPath, {
    command: "quota-expire",
    timeoutMs,
    addressSpaceFix: "set vsz_limit = 4G in Dovecot's quota-warning service",
  });
}
