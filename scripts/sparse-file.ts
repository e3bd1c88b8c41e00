import { closeSync, ftruncateSync, openSync, utimesSync } from "node:fs";

/**
 * Writes a sparse file of `size` bytes (no data blocks) and sets its mtime to `mtime` in Unix
 * seconds. The demo trees and the tests build message files this way, so a million of them take
 * little disk.
 */
export function writeSparseFile(path: string, size: number, mtime: number): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  utimesSync(path, mtime, mtime);
}
