import { describe, expect, test } from "bun:test";
import { closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { errnoCode, loadStatx } from "../src/statx.ts";
import { makeTempDir } from "./helpers.ts";

describe("statx", () => {
  const statx = loadStatx();

  test("loads from libc", () => {
    expect(statx).not.toBeNull();
  });

  test("size and mtime match lstatSync", () => {
    const dir = makeTempDir();
    const path = join(dir, "big");
    // A sparse file over 4 GiB, so the high half of the 64-bit size counts.
    const fd = openSync(path, "w");
    ftruncateSync(fd, 5 * 2 ** 30 + 7);
    closeSync(fd);
    Bun.spawnSync(["touch", "-m", "-d", "2026-01-02 03:04:05.123456789", path]);

    expect(statx!.lstat(path)).toBe(0);
    const stats = lstatSync(path);
    expect(statx!.isFile).toBe(true);
    expect(statx!.size).toBe(5 * 2 ** 30 + 7);
    expect(statx!.size).toBe(stats.size);
    expect(statx!.mtimeMs).toBe(stats.mtimeMs);
    expect(statx!.ctimeMs).toBe(stats.ctimeMs);
    expect(statx!.ctimeMs).not.toBe(statx!.mtimeMs);
  });

  test("mtime before 1970 keeps its sign", () => {
    const path = join(makeTempDir(), "old");
    writeFileSync(path, "");
    Bun.spawnSync(["touch", "-m", "-d", "@-86400", path]);
    expect(statx!.lstat(path)).toBe(0);
    expect(statx!.mtimeMs).toBe(-86_400_000);
  });

  test("symlinks and directories are not files", () => {
    const dir = makeTempDir();
    writeFileSync(join(dir, "target"), "12345");
    symlinkSync(join(dir, "target"), join(dir, "link"));
    mkdirSync(join(dir, "sub"));
    expect(statx!.lstat(join(dir, "link"))).toBe(0);
    expect(statx!.isFile).toBe(false);
    expect(statx!.lstat(join(dir, "sub"))).toBe(0);
    expect(statx!.isFile).toBe(false);
  });

  test("errors return their errno", () => {
    const dir = makeTempDir();
    writeFileSync(join(dir, "file"), "");
    expect(errnoCode(statx!.lstat(join(dir, "missing")))).toBe("ENOENT");
    expect(errnoCode(statx!.lstat(join(dir, "file", "below")))).toBe("ENOTDIR");
    expect(errnoCode(statx!.lstat(`${dir}/${"a".repeat(5000)}`))).toBe("ENAMETOOLONG");
  });

  test("raw names that are not UTF-8", () => {
    const dir = makeTempDir();
    writeFileSync(Buffer.from(`${dir}/a\xffb`, "latin1"), "123");
    expect(statx!.lstat(`${dir}/a\xffb`)).toBe(0);
    expect(statx!.size).toBe(3);
  });
});
