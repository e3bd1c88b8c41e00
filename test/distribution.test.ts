/**
 * Proof that the release binaries run where relays run. The smoke suite runs natively, then the
 * arm64 binary under qemu-user with Debian's arm64 glibc, the x64 binary on an older CPU model
 * (Nehalem, no AVX), and the x64 binary in a chroot that holds nothing but the binary and the
 * libraries ldd lists.
 * Also the release files themselves: glibc symbol versions and SHA256SUMS.
 *
 * Locally a missing qemu-user-static or binutils skips the tests that need it; with CI set they
 * fail instead (.ci/run installs them).
 */

import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { makeTempDir, REPO_ROOT } from "./helpers.ts";
import { describeSmokeSuite, ensureSymlink, findProgram, listFiles } from "./smoke.ts";

const X64_BINARY = join(REPO_ROOT, "dist", "chatmail-maildir-linux-x64");
const ARM64_BINARY = join(REPO_ROOT, "dist", "chatmail-maildir-linux-arm64");
const ARM64_SYSROOT = join(REPO_ROOT, ".cache", "arm64-sysroot");
const IN_CI = Boolean(process.env.CI);

/** The highest `GLIBC_x.y` symbol version the release binaries need; README's "Release" states it. */
const MAX_GLIBC_VERSION = "2.17";

/** Returns a runner's `addName`: a symlink named `name` next to the suite's files, run through `prefix`. */
function symlinkNamer(dir: string, binary: string, prefix: string[]): (name: string) => string[] {
  return (name) => {
    const link = join(dir, "bin", name);
    mkdirSync(dirname(link), { recursive: true });
    ensureSymlink(binary, link);
    return [...prefix, link];
  };
}

const hostBinary = process.arch === "arm64" ? ARM64_BINARY : X64_BINARY;
describeSmokeSuite(`native ${process.arch}`, {
  setup: () => {
    const dir = makeTempDir("chatmail-smoke-");
    return {
      command: [hostBinary],
      hostDir: dir,
      runnerDir: dir,
      target: process.arch === "arm64" ? "linux-arm64" : "linux-x64",
      addName: symlinkNamer(dir, hostBinary, []),
    };
  },
});

// qemu-user enforces the CPU model: under -cpu Nehalem an AVX2 instruction raises SIGILL
// (checked with Debian 12's qemu 7.2).
const NEHALEM = ["qemu-x86_64-static", "-cpu", "Nehalem"];
describeSmokeSuite("x64 on Nehalem (qemu-x86_64-static)", {
  requires: ["qemu-x86_64-static"],
  setup: () => {
    const dir = makeTempDir("chatmail-smoke-");
    return {
      command: [...NEHALEM, X64_BINARY],
      hostDir: dir,
      runnerDir: dir,
      target: "linux-x64",
      addName: symlinkNamer(dir, X64_BINARY, NEHALEM),
    };
  },
});

const describeWithQemuX64 = findProgram("qemu-x86_64-static") !== undefined || IN_CI ? describe : describe.skip;
describeWithQemuX64("x64 CPU floor", () => {
  test("Core 2 (Conroe) is below it", () => {
    // Bun's baseline build targets Nehalem (x86-64-v2), so under Conroe, which lacks SSE4.2 and
    // POPCNT, it dies at start-up. That also shows qemu-user enforcing the model.
    const result = Bun.spawnSync(["qemu-x86_64-static", "-cpu", "Conroe", X64_BINARY, "--version"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(result.stdout.toString()).toBe("");
    expect(result.signalCode).toBe("SIGILL");
  }, 60_000);
});

// A further runner for a manual check, for example another CPU model:
//   SMOKE_PREFIX="qemu-x86_64-static -cpu Westmere" bun test test/distribution.test.ts
// SMOKE_BINARY picks the binary (default: the x64 one) and SMOKE_TARGET its --version target.
const customPrefix = process.env.SMOKE_PREFIX;
if (customPrefix !== undefined && customPrefix.trim() !== "") {
  const prefix = customPrefix.trim().split(/\s+/);
  const binary = process.env.SMOKE_BINARY ?? X64_BINARY;
  describeSmokeSuite(`custom prefix: ${customPrefix.trim()}`, {
    requires: [prefix[0]!],
    setup: () => {
      const dir = makeTempDir("chatmail-smoke-");
      return {
        command: [...prefix, binary],
        hostDir: dir,
        runnerDir: dir,
        target: process.env.SMOKE_TARGET ?? "linux-x64",
        addName: symlinkNamer(dir, binary, prefix),
      };
    },
  });
}

/** Unpacks Debian's libc6:arm64 into ARM64_SYSROOT unless it is there already. */
function prepareArm64Sysroot(): void {
  const result = Bun.spawnSync(["bash", join(REPO_ROOT, "scripts", "arm64-sysroot.sh"), ARM64_SYSROOT], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    throw new Error(`scripts/arm64-sysroot.sh failed (exit ${result.exitCode}): ${result.stderr.toString().trim()}`);
  }
}

describeSmokeSuite("arm64 (qemu-aarch64-static)", {
  requires: ["qemu-aarch64-static", "apt-get", "dpkg"],
  setup: () => {
    prepareArm64Sysroot();
    const prefix = ["qemu-aarch64-static", "-L", ARM64_SYSROOT];
    const dir = makeTempDir("chatmail-smoke-");
    return {
      command: [...prefix, ARM64_BINARY],
      hostDir: dir,
      runnerDir: dir,
      target: "linux-arm64",
      addName: symlinkNamer(dir, ARM64_BINARY, prefix),
    };
  },
});

/** Returns the absolute paths of the shared libraries `ldd` lists for a binary. */
function lddLibraries(binary: string): string[] {
  const result = Bun.spawnSync(["ldd", binary], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`ldd ${binary} failed: ${result.stderr.toString().trim()}`);
  return [...result.stdout.toString().matchAll(/(\/\S+)/g)].map((match) => match[1]!);
}

/** Checks /proc/self/mountinfo for a mount at or below `dir`. */
function hasMountsBelow(dir: string): boolean {
  const mountPoints = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined);
  return mountPoints.some((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

// Each run mounts /proc (a compiled Bun binary reads itself through /proc/self/exe) inside a
// private mount namespace that ends with the run, so no mount outlives a run, even a failed one.
const CHROOT_SCRIPT = 'root=$1; shift; mount -t proc -o nosuid,nodev,noexec proc "$root/proc" && exec chroot "$root" "$@"';
let chrootRoot: string | undefined;
let chrootLibraries: string[] = [];

describeSmokeSuite("x64 in a chroot without runtime", {
  requires: ["unshare", "chroot", "ldd"],
  requiresRoot: true,
  setup: () => {
    const root = mkdtempSync(join(tmpdir(), "chatmail-chroot-"));
    chrootRoot = root;
    copyFileSync(X64_BINARY, join(root, "chatmail-maildir"));
    Bun.spawnSync(["chmod", "0755", join(root, "chatmail-maildir")]);
    chrootLibraries = lddLibraries(X64_BINARY);
    for (const library of chrootLibraries) {
      mkdirSync(join(root, dirname(library)), { recursive: true });
      copyFileSync(library, join(root, library));
    }
    mkdirSync(join(root, "proc"));
    mkdirSync(join(root, "work"));

    const prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", CHROOT_SCRIPT, "sh", root];
    return {
      command: [...prefix, "/chatmail-maildir"],
      hostDir: join(root, "work"),
      runnerDir: "/work",
      target: "linux-x64",
      addName: (name) => {
        ensureSymlink("/chatmail-maildir", join(root, name));
        return [...prefix, `/${name}`];
      },
    };
  },
  extraTests: () => {
    test("chroot holds only the binary and its libraries", () => {
      const root = chrootRoot!;
      const files = listFiles(root).filter((file) => !file.startsWith("work/"));
      const expected = ["chatmail-maildir", ...chrootLibraries.map((library) => library.slice(1))].sort();
      expect(files).toEqual(expected);
      expect(readdirSync(join(root, "proc"))).toEqual([]);
    });

    test("no mount outlives a run", () => {
      expect(hasMountsBelow(chrootRoot!)).toBe(false);
    });
  },
  teardown: () => {
    // Remove the tree only when nothing is mounted inside it: a recursive removal must never
    // walk into a mounted /proc.
    if (chrootRoot !== undefined && !hasMountsBelow(chrootRoot)) rmSync(chrootRoot, { recursive: true, force: true });
  },
});

/** Returns the `GLIBC_x.y` versions in a binary's version-needs section (`readelf -V`). */
function neededGlibcVersions(binary: string): string[] {
  const result = Bun.spawnSync(["readelf", "-V", "-W", binary], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`readelf -V ${binary} failed: ${result.stderr.toString().trim()}`);
  const text = result.stdout.toString();
  const needs = text.slice(text.indexOf("Version needs section"));
  return [...new Set([...needs.matchAll(/Name: GLIBC_([0-9.]+)/g)].map((match) => match[1]!))];
}

function compareVersions(a: string, b: string): number {
  const partsA = a.split(".").map(Number);
  const partsB = b.split(".").map(Number);
  for (let i = 0; i < Math.max(partsA.length, partsB.length); i++) {
    const difference = (partsA[i] ?? 0) - (partsB[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Returns the NEEDED entries of a binary's dynamic section (`readelf -d`). */
function neededLibraries(binary: string): string[] {
  const result = Bun.spawnSync(["readelf", "-d", "-W", binary], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`readelf -d ${binary} failed: ${result.stderr.toString().trim()}`);
  return [...result.stdout.toString().matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((match) => match[1]!);
}

const hasReadelf = findProgram("readelf") !== undefined;
const describeWithReadelf = hasReadelf || IN_CI ? describe : describe.skip;

describeWithReadelf("release binaries", () => {
  for (const binary of [X64_BINARY, ARM64_BINARY]) {
    test(`${binary.split("/").pop()} needs glibc ${MAX_GLIBC_VERSION} at most`, () => {
      const versions = neededGlibcVersions(binary).sort(compareVersions);
      expect(versions.length).toBeGreaterThan(0);
      expect(versions.at(-1)).toBe(MAX_GLIBC_VERSION);
    });
  }

  test("arm64 sysroot has every needed library", () => {
    prepareArm64Sysroot();
    const missing = neededLibraries(ARM64_BINARY).filter(
      (library) => !existsSync(join(ARM64_SYSROOT, "lib", library)) && !existsSync(join(ARM64_SYSROOT, "lib", "aarch64-linux-gnu", library)),
    );
    expect(missing).toEqual([]);
  }, 120_000);

  test("make dist writes matching SHA256SUMS", () => {
    const make = Bun.spawnSync(["make", "-s", "dist"], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
    expect(make.stderr.toString()).toBe("");
    expect(make.exitCode).toBe(0);

    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: join(REPO_ROOT, "dist"), stdout: "pipe", stderr: "pipe" });
    expect(check.stdout.toString()).toBe("chatmail-maildir-linux-x64: OK\nchatmail-maildir-linux-arm64: OK\n");
    expect(check.exitCode).toBe(0);
   }, 120_000);
});
