/**
 * The relay-like trees the benchmarks run on, generated once by make-relay-tree.ts into
 * .cache/bench/ and reused while the generator and its arguments stay the same.
 *
 * Usage as a script (generates the trees and prints their paths):
 *   bun scripts/bench-trees.ts [small|large|big-mailbox]…
 */

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "..");
export const CACHE_DIR = join(REPO_ROOT, ".cache", "bench");
const GENERATOR = join(REPO_ROOT, "scripts", "make-relay-tree.ts");
const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");

export interface TreeSpec {
  name: string;
  description: string;
  generatorArgs: string[];
}

/**
 * Both scales have the same mailbox shape, about 29.5 messages and 4 other files each. So the
 * cost per file compares like with like: about 100 000 files in 3 000 mailboxes, and about
 * 1 000 000 files in 30 000 mailboxes. The big mailbox lives in a tree of its own because the
 * benchmark copies it before each quota-expire run.
 */
export const TREES: Record<string, TreeSpec> = {
  small: {
    name: "small",
    description: "3 000 mailboxes, about 100 000 files",
    generatorArgs: ["--mailboxes", "3000", "--messages", "30", "--seed", "7"],
  },
  large: {
    name: "large",
    description: "30 000 mailboxes, about 1 000 000 files",
    generatorArgs: ["--mailboxes", "30000", "--messages", "30", "--seed", "7"],
  },
  "big-mailbox": {
    name: "big-mailbox",
    description: "one mailbox of 100 000 messages",
    generatorArgs: ["--mailboxes", "0", "--big-mailbox", "100000", "--seed", "7"],
  },
};

export interface Tree {
  spec: TreeSpec;
  root: string;
  chatmailIni: string;
  mailboxesDir: string;
}

/** Scripts whose source decides the trees: the generator and the modules it imports. */
const GENERATOR_SOURCES = [GENERATOR, join(REPO_ROOT, "scripts", "seeded-random.ts"), join(REPO_ROOT, "scripts", "sparse-file.ts")];

/** Hashes the generator's sources with the arguments, so that a changed generator makes new trees. */
function treeKey(spec: TreeSpec): string {
  const hash = createHash("sha256");
  for (const source of GENERATOR_SOURCES) {
    if (existsSync(source)) hash.update(readFileSync(source));
  }
  hash.update(JSON.stringify(spec.generatorArgs));
  return hash.digest("hex").slice(0, 12);
}

/**
 * Returns the cached tree for `spec`, generating it first when missing. Generation writes into a
 * `.partial` directory that is renamed when done, so an interrupted run is never reused. Trees
 * of older generator versions are removed.
 */
export function ensureTree(spec: TreeSpec, log: (line: string) => void = console.error): Tree {
  const key = treeKey(spec);
  const root = join(CACHE_DIR, `${spec.name}-${key}`);
  mkdirSync(CACHE_DIR, { recursive: true });

  for (const entry of readdirSync(CACHE_DIR)) {
    if (entry.startsWith(`${spec.name}-`) && entry !== `${spec.name}-${key}`) {
      log(`removing outdated tree ${join(CACHE_DIR, entry)}`);
      rmSync(join(CACHE_DIR, entry), { recursive: true, force: true });
    }
  }

  if (!existsSync(root)) {
    const partial = `${root}.partial`;
    rmSync(partial, { recursive: true, force: true });
    log(`generating ${spec.description} in ${root} (once; this can take minutes)`);
    const started = performance.now();
    const result = Bun.spawnSync([BUN, GENERATOR, partial, ...spec.generatorArgs], {
      stdout: "inherit",
      stderr: "inherit",
    });
    if (result.exitCode !== 0) throw new Error(`make-relay-tree.ts failed with exit code ${result.exitCode}`);
    // chatmail.ini names the mailboxes directory by its absolute path, so it must be rewritten
    // after the rename.
    renameSync(partial, root);
    const ini = join(root, "chatmail.ini");
    const text = readFileSync(ini, "latin1").replaceAll(partial, root);
    writeFileSync(ini, text, "latin1");
    log(`generated ${spec.name} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }

  return {
    spec,
    root,
    chatmailIni: join(root, "chatmail.ini"),
    mailboxesDir: join(root, "mail", "example.org"),
  };
}

if (import.meta.main) {
  const names = process.argv.slice(2);
  for (const name of names.length > 0 ? names : Object.keys(TREES)) {
    const spec = TREES[name];
    if (spec === undefined) {
      console.error(`error: unknown tree ${name}; expected one of ${Object.keys(TREES).join(", ")}`);
      process.exit(2);
    }
    console.log(ensureTree(spec).root);
  }
}
