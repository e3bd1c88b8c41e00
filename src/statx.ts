/**
 * lstat of raw paths through glibc's statx(2), for the hot loop of the walker.
 *
 * fs.lstatSync builds a Stats object per call and converts the path string each time. With this
 * call, the full walk of the 1 000 000-file benchmark tree (scripts/walk-bench.ts, 2 shared
 * cores, Bun 1.4.5, x64) took 5.95 s of CPU time instead of 6.68 s. The layout of struct statx
 * is fixed by the Linux UAPI for every architecture, unlike that of struct stat.
 *
 * The arm64 binary takes this path too: under qemu-aarch64 the smoke suite's fsreport issues
 * statx on every message file and gets the exact figures. Where libc.so.6 or its statx (glibc
 * 2.28 and later) is missing, or bun:ffi cannot load because the JIT is off, `loadStatx` returns
 * null and the walker uses fs.lstatSync.
 */

import { dlopen, read } from "bun:ffi";
import { constants } from "node:os";

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_TYPE = 0x1;
const STATX_MTIME = 0x40;
const STATX_CTIME = 0x80;
const STATX_SIZE = 0x200;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const ENAMETOOLONG = 36;

/** Offsets in struct statx (include/uapi/linux/stat.h). */
const STX_MODE = 28;
const STX_SIZE = 40;
const STX_CTIME = 96;
const STX_MTIME = 112;

/** Size of struct statx, and the longest path the kernel takes (PATH_MAX, with its NUL). */
const STATX_SIZE_BYTES = 256;
const PATH_MAX = 4096;

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** Returns the Node-style code of an errno value, such as "ENOENT". */
export function errnoCode(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/**
 * A statx caller with its own buffers. After `lstat` returned 0, `isFile`, `size`, `mtimeMs` and
 * `ctimeMs` describe that file (as fs.Stats computes them) until the next call.
 */
export interface Statx {
  /** Stats a raw path without following a final symlink; returns 0 or the errno. */
  lstat(path: string): number;
  isFile: boolean;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** Reads a struct statx_timestamp at `offset` in milliseconds. */
function timestampMs(view: DataView, offset: number): number {
  const seconds = view.getUint32(offset, true) + view.getInt32(offset + 4, true) * 2 ** 32;
  return seconds * 1000 + view.getUint32(offset + 8, true) / 1e6;
}

let loaded: Statx | null | undefined;

/** Loads statx from libc.so.6 once per thread; returns null where it is unavailable. */
export function loadStatx(): Statx | null {
  if (loaded !== undefined) return loaded;
  loaded = null;

  let library;
  try {
    library = dlopen("libc.so.6", {
      statx: { args: ["i32", "ptr", "i32", "u32", "ptr"], returns: "i32" },
      __errno_location: { args: [], returns: "ptr" },
    });
  } catch {
    return null;
  }

  const { statx, __errno_location: errnoLocation } = library.symbols;
  const pathBuffer = Buffer.alloc(PATH_MAX);
  const statBuffer = new Uint8Array(STATX_SIZE_BYTES);
  const view = new DataView(statBuffer.buffer);
  const mask = STATX_TYPE | STATX_SIZE | STATX_MTIME | STATX_CTIME;

  const caller: Statx = {
    isFile: false,
    size: 0,
    mtimeMs: 0,
    ctimeMs: 0,
    lstat(path: string): number {
      // Raw paths hold one byte per UTF-16 unit, so latin1 writes exactly the bytes of the name.
      if (path.length >= PATH_MAX) return ENAMETOOLONG;
      const length = pathBuffer.write(path, 0, "latin1");
      pathBuffer[length] = 0;

      if (statx(AT_FDCWD, pathBuffer, AT_SYMLINK_NOFOLLOW, mask, statBuffer) !== 0) {
        const pointer = errnoLocation();
        return pointer === null ? -1 : read.i32(pointer, 0);
      }

      // 64-bit fields are read as two 32-bit halves: getBigUint64 would allocate a BigInt.
      caller.isFile = (view.getUint16(STX_MODE, true) & S_IFMT) === S_IFREG;
      caller.size = view.getUint32(STX_SIZE, true) + view.getUint32(STX_SIZE + 4, true) * 2 ** 32;
      caller.mtimeMs = timestampMs(view, STX_MTIME);
      caller.ctimeMs = timestampMs(view, STX_CTIME);
      return 0;
    },
  };
  loaded = caller;
  return caller;
}
