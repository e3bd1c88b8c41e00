/**
 * `make bench`: times the compiled binary's jobs against `du` and `find` on relay-like trees of
 * about 100 000 and 1 000 000 files, prints one Markdown table and writes it into BENCHMARKS.md.
 *
 * Every figure is the median of interleaved runs after one warm-up run of each job, so the page
 * cache is warm and drift on a shared machine hits all jobs alike. Wall time, CPU time and peak
 * RSS come from /usr/bin/time. The trees are generated once (see bench-trees.ts).
 *
 * Usage: bun scripts/bench.ts --binary PATH [--walk-bench PATH] [--runs N] [--scales small,large]
 *        [--output FILE]
 */

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { quotaUsage, walkMailbox } from "../src/maildir.ts";
import { CACHE_DIR, ensureTree, REPO_ROOT, type Tree, TREES } from "./bench-trees.ts";

const GNU_TIME = "/usr/bin/time";
const MIB = 1024 * 1024;

/** Start and end markers of the generated part of BENCHMARKS.md; the text around them is kept. */
const BEGIN_MARKER = "<!-- make bench: begin -->";
const END_MARKER = "<!-- make bench: end -->";

/**
 * Targets of the sweep in MiB. The trees' chatmail.ini sets max_mailbox_size to 100M, and a
 * sweep trims mailboxes that were over quota already, so 80 MiB is a realistic target: few
 * mailboxes are over it. The mailboxes hold about 6.6 MiB of quota usage on average, so with
 * 10 MiB about a quarter of them are over the target, which shows the cost of statting them.
 */
const SWEEP_TARGET_MB = 80;
const SWEEP_TARGET_MANY_MB = 10;

/** Share of the big mailbox's quota usage that quota-expire is asked to keep. */
const BIG_MAILBOX_KEEP = 0.8;

interface Job {
  /** Row label in the table. */
  label: string;
  /** Label of the du and find rows this job is compared with. */
  baseline: string;
  command: string[];
  /** Runs before each timed run, outside the timing; returns nothing. */
  prepare?: () => void;
}

interface Sample {
  wallSeconds: number;
  cpuSeconds: number;
  maxRssKb: number;
}

interface JobResult {
  job: Job;
  samples: Sample[];
  files: number;
}

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(1);
}

/** Runs a command under /usr/bin/time with stdout to /dev/null; fails the benchmark on a non-zero exit. */
function timeCommand(command: string[]): Sample {
  const resultFile = join(CACHE_DIR, "time-output");
  const result = Bun.spawnSync([GNU_TIME, "-f", "%e %U %S %M", "-o", resultFile, ...command], {
    stdout: "ignore",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    fail(`${command.join(" ")} exited with ${result.exitCode}:\n${result.stderr.toString().slice(-2000)}`);
  }
  const fields = readFileSync(resultFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
  const [wall, user, system, rss] = fields as [number, number, number, number];
  return { wallSeconds: wall, cpuSeconds: user + system, maxRssKb: rss };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Counts the regular files below `dir` with find, once per tree. */
function countFiles(dir: string): number {
  const result = Bun.spawnSync(["find", dir, "-type", "f", "-printf", "."], { stdout: "pipe", stderr: "inherit" });
  if (result.exitCode !== 0) fail(`find ${dir} failed`);
  return result.stdout.length;
}

function treeJobs(tree: Tree, scale: string, binary: string, walkBench: string | undefined): Job[] {
  const dir = tree.mailboxesDir;
  const baseline = scale;
  const jobs: Job[] = [
    { label: `du -s --apparent-size`, baseline, command: ["du", "-s", "--apparent-size", dir] },
    { label: `find -type f`, baseline, command: ["find", dir, "-type", "f"] },
    { label: `fsreport`, baseline, command: [binary, "fsreport", tree.chatmailIni] },
    { label: `expire-inactive (dry run)`, baseline, command: [binary, "expire-inactive", tree.chatmailIni] },
    {
      label: `quota-expire --sweep --dry-run ${SWEEP_TARGET_MB}`,
      baseline,
      command: [binary, "quota-expire", "-q", "--sweep", "--dry-run", String(SWEEP_TARGET_MB), dir],
    },
    {
      label: `quota-expire --sweep --dry-run ${SWEEP_TARGET_MANY_MB}`,
      baseline,
      command: [binary, "quota-expire", "-q", "--sweep", "--dry-run", String(SWEEP_TARGET_MANY_MB), dir],
    },
  ];
  if (walkBench !== undefined) {
    jobs.push({ label: `walker alone, stat all (walk-bench full)`, baseline, command: [walkBench, dir, "full"] });
    jobs.push({ label: `walker alone, S= only (walk-bench lean)`, baseline, command: [walkBench, dir, "lean"] });
  }
  return jobs;
}

/**
 * quota-expire on a fresh copy of one mailbox of 100 000 messages, with du and find on the same
 * copy as baselines. The copy is made before each du run, outside the timing, and the target
 * keeps BIG_MAILBOX_KEEP of the usage, so every run removes the same messages.
 */
async function bigMailboxJobs(tree: Tree, binary: string): Promise<Job[]> {
  const source = join(tree.mailboxesDir, "big@example.org");
  const copyParent = join(CACHE_DIR, "copy-of-big-mailbox");
  const copy = join(copyParent, "big@example.org");
  const usage = quotaUsage((await walkMailbox(source)).messages);
  const targetMb = Math.floor((usage * BIG_MAILBOX_KEEP) / MIB);
  const baseline = "big mailbox";

  // cp keeps the message files sparse (fs.cpSync would write out every hole).
  const freshCopy = () => {
    rmSync(copyParent, { recursive: true, force: true });
    mkdirSync(copyParent, { recursive: true });
    const result = Bun.spawnSync(["cp", "-a", "--sparse=always", source, copy], { stderr: "inherit" });
    if (result.exitCode !== 0) fail(`copying ${source} failed`);
  };
  freshCopy();

  return [
    { label: "du -s --apparent-size", baseline, command: ["du", "-s", "--apparent-size", copy], prepare: freshCopy },
    { label: "find -type f", baseline, command: ["find", copy, "-type", "f"] },
    { label: `quota-expire ${targetMb} (removes ${Math.round((1 - BIG_MAILBOX_KEEP) * 100)}% of the usage)`, baseline, command: [binary, "quota-expire", "-q", String(targetMb), copy] },
  ];
}

function formatRatio(value: number | undefined): string {
  return value === undefined ? "" : value.toFixed(2);
}

function buildTable(groups: { title: string; results: JobResult[] }[]): string {
  const lines = [
    "| tree | job | median wall s | min–max wall s | CPU s | peak RSS MB | × du | × find | µs per file |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const { title, results } of groups) {
    const du = median(results.find((r) => r.job.label.startsWith("du "))!.samples.map((s) => s.wallSeconds));
    const find = median(results.find((r) => r.job.label.startsWith("find "))!.samples.map((s) => s.wallSeconds));
    for (const result of results) {
      const walls = result.samples.map((s) => s.wallSeconds);
      const wall = median(walls);
      const cpu = median(result.samples.map((s) => s.cpuSeconds));
      const rss = Math.max(...result.samples.map((s) => s.maxRssKb)) / 1024;
      lines.push(
        `| ${title} | ${result.job.label} | ${wall.toFixed(2)} | ${Math.min(...walls).toFixed(2)}–${Math.max(...walls).toFixed(2)} | ` +
          `${cpu.toFixed(2)} | ${rss.toFixed(0)} | ${formatRatio(wall / du)} | ${formatRatio(wall / find)} | ` +
          `${((wall / result.files) * 1e6).toFixed(2)} |`,
      );
    }
  }
  return lines.join("\n");
}

interface Figures {
  wall: number;
  rssMb: number;
  perFile: number;
}

function figuresOf(samples: Sample[], files: number): Figures {
  const wall = median(samples.map((s) => s.wallSeconds));
  return { wall, rssMb: Math.max(...samples.map((s) => s.maxRssKb)) / 1024, perFile: wall / files };
}

/** Checks the targets on the 1 000 000-file tree and the big mailbox; empty without the large tree. */
function buildTargetTable(groups: { scale: string; jobs: Job[]; files: number }[], results: Map<Job, Sample[]>): string {
  const small = groups.find((g) => g.scale === "small");
  const large = groups.find((g) => g.scale === "large");
  const big = groups.find((g) => g.scale === "big-mailbox");
  if (large === undefined || big === undefined) return "";

  const figures = (group: { jobs: Job[]; files: number }, prefix: string) =>
    figuresOf(results.get(group.jobs.find((job) => job.label.startsWith(prefix))!)!, group.files);
  const rows = ["| target | measured | met |", "|---|--:|:-:|"];
  const check = (target: string, measured: number, limit: number, digits = 2) =>
    rows.push(`| ${target} | ${measured.toFixed(digits)} | ${measured <= limit ? "yes" : "**no**"} |`);

  const du = figures(large, "du ").wall;
  check("fsreport ≤ 0.8 × du", figures(large, "fsreport").wall / du, 0.8);
  check("expire-inactive dry run ≤ 0.1 × du", figures(large, "expire-inactive").wall / du, 0.1);
  const sweep = `quota-expire --sweep --dry-run ${SWEEP_TARGET_MB}`;
  check(`${sweep} ≤ 1.0 × du`, figures(large, sweep).wall / du, 1.0);
  check("quota-expire, 100 000-message mailbox ≤ 1.5 × du of it", figures(big, "quota-expire").wall / figures(big, "du ").wall, 1.5);
  for (const prefix of ["fsreport", "expire-inactive", sweep]) {
    const largeFigures = figures(large, prefix);
    check(`${prefix}: peak RSS at 1 M files ≤ 120 MB`, largeFigures.rssMb, 120, 0);
    if (small === undefined) continue;
    const smallFigures = figures(small, prefix);
    check(`${prefix}: peak RSS at 1 M ≤ 1.3 × at 100 k`, largeFigures.rssMb / smallFigures.rssMb, 1.3);
    check(`${prefix}: cost per file at 1 M ≤ 1.2 × at 100 k`, largeFigures.perFile / smallFigures.perFile, 1.2);
  }
  check("quota-expire, 100 000-message mailbox: peak RSS ≤ 120 MB", figures(big, "quota-expire").rssMb, 120, 0);
  return rows.join("\n");
}

function describeMachine(runs: number, loadBefore: number[], loadAfter: number[]): string {
  const cpuModel = cpus()[0]?.model ?? "unknown CPU";
  const version = Bun.spawnSync([values.binary!, "--version"]).stdout.toString().trim();
  return [
    `Run on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${availableParallelism()} cores (${cpuModel}), ` +
      `Linux ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}, ${version}.`,
    `Each job: one warm-up run, then ${runs} runs interleaved with the other jobs; medians of wall and CPU (user + system) ` +
      `time, max of peak RSS. Load average before: ${loadBefore.map((l) => l.toFixed(2)).join(" ")}, ` +
      `after: ${loadAfter.map((l) => l.toFixed(2)).join(" ")}` +
      // Before the first run the load is other processes' alone; during the runs it is ours too.
      (loadBefore[0]! > availableParallelism() * 0.5
        ? " — other processes shared the cores, so wall times are noisy (see the min–max column)."
        : "."),
  ].join("\n");
}

function writeBenchmarksFile(path: string, generated: string): void {
  const block = `${BEGIN_MARKER}\n${generated}\n${END_MARKER}`;
  let text = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmarks\n\n" + block + "\n";
  const begin = text.indexOf(BEGIN_MARKER);
  const end = text.indexOf(END_MARKER);
  text = begin >= 0 && end > begin ? text.slice(0, begin) + block + text.slice(end + END_MARKER.length) : text.trimEnd() + "\n\n" + block + "\n";
  writeFileSync(path, text);
}

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    binary: { type: "string" },
    "walk-bench": { type: "string" },
    runs: { type: "string", default: "5" },
    scales: { type: "string", default: "small,large" },
    output: { type: "string", default: join(REPO_ROOT, "BENCHMARKS.md") },
  },
});

if (values.binary === undefined) fail("missing --binary PATH");
if (!existsSync(GNU_TIME)) fail(`${GNU_TIME} not found: install GNU time (apt-get install time)`);
const binary = resolve(values.binary);
const walkBench = values["walk-bench"] === undefined ? undefined : resolve(values["walk-bench"]);
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) fail(`invalid --runs ${values.runs}: expected a whole number, 1 or more`);

const groups: { scale: string; title: string; jobs: Job[]; files: number }[] = [];
for (const scale of values.scales!.split(",")) {
  const spec = TREES[scale];
  if (spec === undefined || scale === "big-mailbox") fail(`invalid scale ${scale}: expected small or large`);
  const tree = ensureTree(spec);
  const files = countFiles(tree.mailboxesDir);
  groups.push({ scale, title: `${scale}, ${files} files`, jobs: treeJobs(tree, `${scale}`, binary, walkBench), files });
}
const bigTree = ensureTree(TREES["big-mailbox"]!);
const bigFiles = countFiles(join(bigTree.mailboxesDir, "big@example.org"));
groups.push({ scale: "big-mailbox", title: `one mailbox, ${bigFiles} files`, jobs: await bigMailboxJobs(bigTree, binary), files: bigFiles });

const loadBefore = loadavg();
const results = new Map<Job, Sample[]>();
const allJobs = groups.flatMap((group) => group.jobs);
console.error(`warming up ${allJobs.length} jobs`);
for (const job of allJobs) {
  job.prepare?.();
  timeCommand(job.command);
}
for (let run = 1; run <= runs; run++) {
  console.error(`run ${run} of ${runs}`);
  for (const job of allJobs) {
    job.prepare?.();
    const samples = results.get(job) ?? [];
    samples.push(timeCommand(job.command));
    results.set(job, samples);
  }
}
rmSync(join(CACHE_DIR, "copy-of-big-mailbox"), { recursive: true, force: true });
const loadAfter = loadavg();

const table = buildTable(
  groups.map((group) => ({
    title: group.title,
    results: group.jobs.map((job) => ({ job, samples: results.get(job)!, files: group.files })),
  })),
);
const targets = buildTargetTable(groups, results);
const generated = [describeMachine(runs, loadBefore, loadAfter), table, ...(targets === "" ? [] : ["Targets on the 1 000 000-file tree:", targets])].join("\n\n");
console.log(generated);
writeBenchmarksFile(values.output!, generated);
console.error(`wrote ${values.output}`);
