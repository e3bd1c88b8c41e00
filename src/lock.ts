/**
 * Per-mailbox lock: flock(2) on the mailbox directory itself, called through libc.
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
 * Explains the usual cause of a failed bun:ffi load. Bun turns its JIT off when the address-space
 * limit (RLIMIT_AS) is below about 2.3 GiB (measured with Bun 1.4.5 on x64), and bun:ffi needs
 * the JIT. Dovecot sets that limit from the service's vsz_limit, 256 MiB by default.
 */
function addressSpaceHint(): string {
  let limits: string;
  try {
    limits = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return "";
  }
  const match = /^Max address space\s+(\d+)/m.exec(limits);
  if (match === null) return "";
  const mebibytes = Math.floor(Number(match[1]) / 1024 / 1024);
  return ` (the address-space limit is ${mebibytes} MiB: set vsz_limit = 4G in Dovecot's quota-warning service)`;
}

export interface MailboxLock {
  /** Time spent waiting for another run to release the lock, in milliseconds. */
  waitedMs: number;
  /** Releases the lock. Exiting the process releases it too. */
  release(): void;
}

/**
 * Takes the exclusive lock of a mailbox, waiting while another run holds it. Throws a CliError
 * when the mailbox cannot be opened, flock fails, or the wait exceeds `timeoutMs`.
 */
export async function lockMailbox(mailboxPath: string, timeoutMs: number): Promise<MailboxLock> {
  let functions: LibcFlock;
  try {
    functions = await loadLibc();
  } catch (error) {
    throw new CliError(
      `cannot lock ${displayPath(mailboxPath)}: loading flock from libc.so.6 failed: ${describeError(error)}${addressSpaceHint()}`,
    );
  }

  let fd: number;
  try {
    fd = openSync(toFsPath(mailboxPath), "r");
  } catch (error) {
    throw new CliError(`cannot lock ${displayPath(mailboxPath)}: ${describeError(error)}`);
  }

  const started = performance.now();
  for (;;) {
    if (functions.flock(fd, LOCK_EX | LOCK_NB) === 0) break;

    const errno = functions.errno();
    if (errno === EINTR) continue;
    if (errno !== EWOULDBLOCK) {
      closeSync(fd);
      throw new CliError(`cannot lock ${displayPath(mailboxPath)}: flock failed with errno ${errno}`);
    }

    if (performance.now() - started > timeoutMs) {
      closeSync(fd);
      throw new CliError(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for another quota-expire run on ${displayPath(mailboxPath)} to finish`,
      );
    }
    await Bun.sleep(RETRY_INTERVAL_MS);
  }

  const waitedMs = performance.now() - started;
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
