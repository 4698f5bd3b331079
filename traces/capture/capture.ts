// Capture a real kernel ftrace trace of one workload under qemu (TCG), with the rmap kprobes
// and tracepoints of traces/capture/probes/, from a Debian kernel package.
//
//   node --import tsx traces/capture/capture.ts --kernel 6.1 --workload thp-fork-cow \
//        -o traces/fixtures/real/6.1-thp-fork-cow.ftrace.gz
//
// See traces/capture/README.md.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { btfFromVmlinuz } from './btf.ts';
import { type KernelGen, type ProbeGeneration, eventsFile, generateKprobes, readEvents } from './probes.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const WORKLOAD_DIR = join(HERE, 'workloads');

export const WORKLOADS: readonly string[] = Object.freeze([
  'thp-fork-cow',
  'tmpfs-shared-private',
  'mremap-dontneed',
  'fork-many',
  'split-folio',
  'madvise-thp',
  'holdout-mixed',
  'holdout-shmem-remap',
  'holdout2-thp-grow-fork2',
]);

export const KERNEL_GENS: readonly KernelGen[] = Object.freeze(['6.1', '6.12'] as KernelGen[]);

/** Thrown when Debian's package registry cannot be reached (tests turn this into SKIPPED). */
export class CaptureUnavailableError extends Error {
  constructor(reason: string) {
    super(`capture unavailable: Debian package registry unreachable: ${reason}`);
    this.name = 'CaptureUnavailableError';
  }
}

export interface CaptureOptions {
  kernel: KernelGen;
  workload: string;
  /** output file, X.ftrace.gz; X.meta.json is written beside it */
  out: string;
  /** downloads, extracted kernels and build products (default <repo>/.capture-cache) */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface CaptureMetadata {
  schema: 'trollcount-capture-meta/1';
  workload: string;
  kernelGen: KernelGen;
  /** `uname -r` of the booted kernel, e.g. 6.1.0-56-amd64 */
  kernelRelease: string;
  /** `uname -a` as printed in the guest */
  kernelUname: string;
  kernelPackage: string;
  kernelPackageVersion: string;
  kernelDebSha256: string;
  qemuVersion: string;
  qemuCommand: string[];
  busyboxPackageVersion: string;
  gccVersion: string;
  /** ISO 8601, when the capture finished */
  date: string;
  /** repo-relative path of the reference probe definitions the kprobe lines were generated from */
  probeFile: string;
  eventsFile: string;
  /** struct offsets derived from the kernel's BTF at capture time */
  offsets: Record<string, number>;
  /** the kprobe_events lines written in the guest */
  probeLines: string[];
  /** true when the generated lines are identical to the reference definitions */
  probesMatchReference: boolean;
  probeMismatches: string[];
  probeWarnings: string[];
  /** probed functions with no BTF entry (inline: expected to fail to register) */
  probesNotInBtf: string[];
  probesRegistered: string[];
  probesFailed: { probe: string; error: string }[];
  eventsEnabled: string[];
  eventsFailed: string[];
  /** registered probes / enabled tracepoints with no line in the trace */
  probesWithoutEvents: string[];
  workloadExitCode: number;
  /** seconds of guest uptime spent in the workload while tracing */
  workloadSeconds: number;
  /** wall time of the qemu run and of the whole capture, ms */
  bootMs: number;
  totalMs: number;
  ringBufferStats: Record<string, Record<string, string>>;
  /** the output file and its content */
  traceFile: string;
  lineCount: number;
  traceBytes: number;
  compressedBytes: number;
  /** sum of N over `[LOST N EVENTS]` lines, and the number of such lines */
  lostEvents: number;
  lostLines: number;
  /** lines per event name (probe or tracepoint name as printed by ftrace) */
  eventCounts: Record<string, number>;
  steps: string[];
  observations: number;
  /** sha256 of the written .ftrace.gz file, and of the uncompressed text */
  sha256: string;
  textSha256: string;
}

// ---------------------------------------------------------------------------------------------
// processes

interface RunResult { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, env: opts.env ?? process.env, maxBuffer: 256 << 20 });
  if (r.error) return { code: 127, stdout: '', stderr: `${cmd}: ${r.error.message}` };
  return { code: r.status ?? 128, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const which = (bin: string): boolean => run('sh', ['-c', `command -v ${bin}`]).code === 0;
const tail = (s: string, n = 15): string => s.trim().split('\n').slice(-n).join('\n');
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// apt

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
const NETWORK_ERROR = /Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|Could not connect|Connection failed|Network is unreachable|No route to host|Connection timed out|Connection refused|Cannot initiate the connection|^Err:/m;

let aptUpdatedThisProcess = false;

function aptListsAgeHours(): number {
  const dir = '/var/lib/apt/lists';
  let newest = 0;
  try {
    for (const f of readdirSync(dir)) if (f.endsWith('_Packages') || f.endsWith('_Packages.lz4') || f.includes('_Packages'))
      newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
  } catch { /* no lists */ }
  return newest ? (Date.now() - newest) / 3.6e6 : Infinity;
}

/** apt-get update (once per process, and only when the lists are missing, old, or `force`). */
function aptUpdate(log: (l: string) => void, force = false): void {
  if (aptUpdatedThisProcess || (!force && aptListsAgeHours() < 12)) return;
  log('apt-get update');
  const r = run('apt-get', ['update'], { env: APT_ENV });
  const text = r.stdout + r.stderr;
  if (NETWORK_ERROR.test(text)) throw new CaptureUnavailableError(`apt-get update: ${tail(text.split('\n').filter((l) => NETWORK_ERROR.test(l) || /^[EW]:/.test(l)).join('\n'), 4)}`);
  if (r.code !== 0) throw new Error(`apt-get update failed (exit ${r.code}): ${tail(text, 6)}`);
  aptUpdatedThisProcess = true;
}

function aptInstall(pkgs: string[], log: (l: string) => void): void {
  aptUpdate(log);
  log(`apt-get install --no-install-recommends ${pkgs.join(' ')}`);
  const r = run('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env: APT_ENV });
  const text = r.stdout + r.stderr;
  if (r.code !== 0) {
    if (NETWORK_ERROR.test(text)) throw new CaptureUnavailableError(`apt-get install ${pkgs.join(' ')}: ${tail(text, 4)}`);
    throw new Error(`apt-get install ${pkgs.join(' ')} failed (exit ${r.code}): ${tail(text, 6)}`);
  }
}

function dpkgInstalled(pkg: string): string | undefined {
  const r = run('dpkg-query', ['-W', '-f=${Status}\t${Version}', pkg]);
  if (r.code !== 0) return undefined;
  const [status, version] = r.stdout.split('\t');
  return status?.includes('install ok installed') ? version : undefined;
}

/** Host tools: qemu, a static busybox, gcc, xz and zstd (to decompress vmlinuz for its BTF). */
function ensureHostTools(log: (l: string) => void): void {
  const need: string[] = [];
  if (!which('qemu-system-x86_64')) need.push('qemu-system-x86');
  if (!dpkgInstalled('busybox-static')) need.push('busybox-static');
  if (!which('xz')) need.push('xz-utils');
  if (!which('zstd')) need.push('zstd');
  if (!which('dpkg-deb')) need.push('dpkg');
  if (!which('gcc')) need.push('gcc', 'libc6-dev');
  if (need.length) aptInstall(need, log);
}

/** The newest linux-image package for a kernel generation, signed preferred. */
function kernelPackageCandidates(gen: KernelGen): string[] {
  const re = gen === '6.1' ? /^linux-image-6\.1\.0-(\d+)-amd64(-unsigned)?$/ : /^linux-image-6\.12\.(\d+)\+deb12-amd64(-unsigned)?$/;
  const pattern = gen === '6.1' ? '^linux-image-6\\.1\\.0-[0-9]+-amd64' : '^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64';
  const r = run('apt-cache', ['search', '--names-only', pattern], { env: APT_ENV });
  const names = r.stdout.split('\n').map((l) => l.split(' - ')[0]!.trim()).filter((n) => re.test(n));
  const key = (n: string) => Number(re.exec(n)![1]);
  return names.sort((a, b) => key(b) - key(a) || Number(a.endsWith('-unsigned')) - Number(b.endsWith('-unsigned')));
}

function aptCandidateVersion(pkg: string): string | undefined {
  const r = run('apt-cache', ['show', '--no-all-versions', pkg], { env: APT_ENV });
  return /^Version: (\S+)/m.exec(r.stdout)?.[1];
}

const debFileName = (pkg: string, version: string) => `${pkg}_${version.replace(/:/g, '%3a')}_amd64.deb`;

function findCachedDeb(debDir: string, gen: KernelGen): string | undefined {
  if (!existsSync(debDir)) return undefined;
  const re = gen === '6.1' ? /^linux-image-6\.1\.0-(\d+)-amd64_/ : /^linux-image-6\.12\.(\d+)\+deb12-amd64_/;
  const debs = readdirSync(debDir).filter((f) => re.test(f) && f.endsWith('.deb'));
  debs.sort((a, b) => Number(re.exec(b)![1]) - Number(re.exec(a)![1]));
  return debs[0] ? join(debDir, debs[0]) : undefined;
}

/** Choose, download (apt-get download) and return the kernel .deb for `gen`. */
function obtainKernelDeb(gen: KernelGen, debDir: string, log: (l: string) => void): string {
  mkdirSync(debDir, { recursive: true });
  let candidates: string[];
  try {
    aptUpdate(log);
    candidates = kernelPackageCandidates(gen);
    if (!candidates.length) { aptUpdate(log, true); candidates = kernelPackageCandidates(gen); }
  } catch (e) {
    const cached = findCachedDeb(debDir, gen);
    if (e instanceof CaptureUnavailableError && cached) {
      log(`warning: ${e.message}; using the cached ${basename(cached)}`);
      return cached;
    }
    throw e;
  }
  if (!candidates.length) throw new Error(`no linux-image package for ${gen} found by apt-cache search (is bookworm with bookworm-updates/security in sources?)`);
  const errors: string[] = [];
  for (const pkg of candidates.slice(0, 4)) {
    const version = aptCandidateVersion(pkg);
    if (!version) { errors.push(`${pkg}: no candidate version`); continue; }
    const file = join(debDir, debFileName(pkg, version));
    if (existsSync(file)) { log(`kernel package ${pkg} ${version} (cached)`); return file; }
    log(`apt-get download ${pkg} (${version})`);
    const r = run('apt-get', ['-o', 'APT::Sandbox::User=root', 'download', `${pkg}=${version}`], { cwd: debDir, env: APT_ENV });
    if (r.code === 0 && existsSync(file)) return file;
    const text = r.stdout + r.stderr;
    if (NETWORK_ERROR.test(text)) {
      const cached = findCachedDeb(debDir, gen);
      if (cached) { log(`warning: download failed (${tail(text, 2)}); using the cached ${basename(cached)}`); return cached; }
      throw new CaptureUnavailableError(`apt-get download ${pkg}: ${tail(text, 3)}`);
    }
    errors.push(`${pkg}: apt-get download exit ${r.code}: ${tail(text, 3)}`);
  }
  throw new Error(`could not download a ${gen} kernel package:\n${errors.join('\n')}`);
}

interface KernelTree { pkg: string; version: string; release: string; vmlinuz: string; debSha256: string }

function extractKernel(deb: string, kernelsDir: string, log: (l: string) => void): KernelTree {
  const f = run('dpkg-deb', ['-f', deb, 'Package', 'Version']);
  if (f.code !== 0) throw new Error(`dpkg-deb -f ${deb}: ${f.stderr.trim()}`);
  const pkg = /^Package: (\S+)/m.exec(f.stdout)?.[1] ?? basename(deb);
  const version = /^Version: (\S+)/m.exec(f.stdout)?.[1] ?? '?';
  const dir = join(kernelsDir, `${pkg}_${version}`);
  if (!existsSync(join(dir, '.extracted'))) {
    log(`dpkg-deb -x ${basename(deb)}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const r = run('dpkg-deb', ['-x', deb, dir]);
    if (r.code !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${r.stderr.trim()}`);
    writeFileSync(join(dir, '.extracted'), sha256(readFileSync(deb)) + '\n');
  }
  const boot = join(dir, 'boot');
  const vm = readdirSync(boot).find((n) => n.startsWith('vmlinuz-'));
  if (!vm) throw new Error(`${deb}: no boot/vmlinuz-* inside`);
  return { pkg, version, release: vm.slice('vmlinuz-'.length), vmlinuz: join(boot, vm), debSha256: readFileSync(join(dir, '.extracted'), 'utf8').trim() };
}

// ---------------------------------------------------------------------------------------------
// guest

function buildWorkload(name: string, outDir: string): string {
  const src = join(WORKLOAD_DIR, `${name}.c`);
  if (!existsSync(src)) throw new Error(`unknown workload ${name}: ${src} does not exist (known: ${WORKLOADS.join(', ')})`);
  mkdirSync(outDir, { recursive: true });
  const bin = join(outDir, name);
  const r = run('gcc', ['-static', '-O1', '-Wall', '-o', bin, src]);
  if (r.code !== 0) throw new Error(`gcc -static ${src} failed:\n${tail(r.stderr, 20)}`);
  return bin;
}

interface CpioEntry { name: string; mode: number; data?: Buffer; rdev?: [number, number] }

/** An initramfs: "newc" cpio, gzip-compressed. */
export function makeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const put = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const h = (n: number) => n.toString(16).padStart(8, '0');
    const hdr = '070701' + [ino++, e.mode, 0, 0, (e.mode & 0o170000) === 0o040000 ? 2 : 1, 0, data.length, 0, 0,
      e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0].map(h).join('');
    parts.push(Buffer.from(hdr), name, pad4(110 + name.length), data, pad4(data.length));
  };
  for (const e of entries) put(e);
  put({ name: 'TRAILER!!!', mode: 0 });
  return gzipSync(Buffer.concat(parts), { level: 6 });
}

function buildInitramfs(workloadBin: string, probeLines: string[], events: string[]): Buffer {
  const busybox = '/bin/busybox';
  const dir = (name: string): CpioEntry => ({ name, mode: 0o040755 });
  return makeCpio([
    dir('bin'), dir('sbin'), dir('usr'), dir('usr/bin'), dir('usr/sbin'), dir('dev'), dir('proc'), dir('sys'),
    dir('tmp'), dir('mnt'), dir('mnt/huge'), dir('probes'), dir('wl'),
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: 0o100755, data: readFileSync(busybox) },
    { name: 'bin/sh', mode: 0o120777, data: Buffer.from('busybox') },
    { name: 'init', mode: 0o100755, data: readFileSync(join(HERE, 'init.sh')) },
    { name: 'probes/kprobes.txt', mode: 0o100644, data: Buffer.from(probeLines.join('\n') + '\n') },
    { name: 'probes/events.txt', mode: 0o100644, data: Buffer.from(events.join('\n') + '\n') },
    { name: 'wl/workload', mode: 0o100755, data: readFileSync(workloadBin) },
  ]);
}

const APPEND = 'console=ttyS0 panic=-1 quiet nokaslr transparent_hugepage=always';

function bootQemu(vmlinuz: string, initrd: string, serialOut: string, timeoutMs: number, log: (l: string) => void): Promise<{ console: string; ms: number; args: string[] }> {
  const args = ['-m', '1024', '-smp', '1', '-accel', 'tcg', '-kernel', vmlinuz, '-initrd', initrd,
    '-nographic', '-no-reboot', '-append', APPEND, '-serial', 'mon:stdio', '-serial', `file:${serialOut}`];
  const t0 = Date.now();
  return new Promise((res, rej) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let consoleText = '', partial = '';
    const onData = (d: Buffer) => {
      const s = d.toString('latin1');
      consoleText += s;
      partial += s;
      const lines = partial.split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) log(`guest: ${l.replace(/\r/g, '')}`);
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; p.kill('SIGKILL'); }, timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); rej(new Error(`cannot start qemu-system-x86_64: ${e.message}`)); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - t0;
      if (timedOut) rej(new Error(`boot timeout: qemu did not power off within ${timeoutMs / 1000} s (killed). Console tail:\n${tail(consoleText)}`));
      else if (code !== 0) rej(new Error(`qemu exited with ${code ?? signal}. Console tail:\n${tail(consoleText)}`));
      else res({ console: consoleText, ms, args });
    });
  });
}

interface SerialResult {
  lines: string[];
  trace: Buffer;
}

function parseSerial(raw: Buffer, consoleText: string): SerialResult {
  const begin = /@@TC trace-begin len=(\d+) sha256=([0-9a-f]{64})\r?\n/.exec(raw.toString('latin1'));
  const head = raw.toString('latin1', 0, begin ? begin.index : raw.length);
  const lines = head.split(/\r?\n/).filter((l) => l.startsWith('@@TC ')).map((l) => l.slice(5));
  if (!lines.includes('hello')) throw new Error(`missing trace markers: the guest /init wrote nothing to the second serial port (${raw.length} bytes). Console tail:\n${tail(consoleText)}`);
  if (!begin) throw new Error(`missing trace markers: no "@@TC trace-begin" on the second serial port (last guest lines: ${lines.slice(-3).join(' | ')}). Console tail:\n${tail(consoleText)}`);
  const len = Number(begin[1]), start = begin.index + begin[0].length;
  const data = raw.subarray(start, start + len);
  if (data.length !== len) throw new Error(`trace truncated on the serial port: ${data.length} of ${len} bytes`);
  if (sha256(data) !== begin[2]) throw new Error(`trace corrupted on the serial port: sha256 mismatch (${len} bytes)`);
  const rest = raw.toString('latin1', start + len);
  if (!/@@TC trace-end/.test(rest)) throw new Error('missing trace markers: no "@@TC trace-end" after the trace data');
  for (const l of rest.split(/\r?\n/)) if (l.startsWith('@@TC ')) lines.push(l.slice(5));
  return { lines, trace: gunzipSync(data) };
}

interface TraceStats { lineCount: number; lostEvents: number; lostLines: number; eventCounts: Record<string, number>; steps: string[]; observations: number }

const EVENT_RE = /^\s*\S.*?\s\[\d{3}\]\s+\S+\s+\d+\.\d+:\s+([\w.]+):\s?(.*)$/;

const SYSCALL_RE = /^\s*\S.*?\s\[\d{3}\]\s+\S+\s+\d+\.\d+:\s+sys_(\w+)(\(| -> )/;

export function analyseTrace(text: string): TraceStats {
  const s: TraceStats = { lineCount: 0, lostEvents: 0, lostLines: 0, eventCounts: {}, steps: [], observations: 0 };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    s.lineCount++;
    const lost = /\[LOST (\d+) EVENTS\]/.exec(line);
    if (lost) { s.lostEvents += Number(lost[1]); s.lostLines++; continue; }
    if (line.startsWith('#')) continue;
    const m = EVENT_RE.exec(line);
    if (!m) {
      // syscall tracepoints print as "sys_mmap(addr: ...)" (enter) and "sys_mmap -> 0x..." (exit)
      const sc = SYSCALL_RE.exec(line);
      if (sc) { const ev = `sys_${sc[2] === '(' ? 'enter' : 'exit'}_${sc[1]}`; s.eventCounts[ev] = (s.eventCounts[ev] ?? 0) + 1; }
      continue;
    }
    const ev = m[1]!;
    s.eventCounts[ev] = (s.eventCounts[ev] ?? 0) + 1;
    if (ev === 'tracing_mark_write') {
      if (m[2]!.startsWith('STEP ')) s.steps.push(m[2]!.slice(5).trim());
      else if (m[2]!.startsWith('OBS ')) s.observations++;
    }
  }
  return s;
}

function metaPathFor(out: string): string {
  if (out.endsWith('.ftrace.gz')) return out.slice(0, -'.ftrace.gz'.length) + '.meta.json';
  return out.replace(/\.gz$/, '') + '.meta.json';
}

// ---------------------------------------------------------------------------------------------

export async function capture(opts: CaptureOptions & { timeoutMs?: number }): Promise<CaptureMetadata> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const gen = opts.kernel;
  if (!KERNEL_GENS.includes(gen)) throw new Error(`unknown kernel generation ${String(gen)} (known: ${KERNEL_GENS.join(', ')})`);
  if (!WORKLOADS.includes(opts.workload)) throw new Error(`unknown workload ${opts.workload} (known: ${WORKLOADS.join(', ')})`);
  const cache = resolve(opts.cacheDir ?? join(REPO, '.capture-cache'));
  const out = resolve(opts.out);

  ensureHostTools(log);
  const deb = obtainKernelDeb(gen, join(cache, 'debs'), log);
  const k = extractKernel(deb, join(cache, 'kernels'), log);
  log(`kernel ${k.pkg} ${k.version} (${k.release})`);

  const btf = btfFromVmlinuz(k.vmlinuz);
  const probes: ProbeGeneration = generateKprobes(btf, gen);
  const offs = Object.entries(probes.offsets).map(([n, v]) => `${n}=+${v}`).join(' ');
  log(`BTF offsets: ${offs}`);
  if (probes.mismatches.length) log(`WARNING: generated kprobes differ from ${relative(REPO, probes.referenceFile)}:\n  ${probes.mismatches.join('\n  ')}`);
  else log(`kprobe lines match ${relative(REPO, probes.referenceFile)}`);
  for (const w of probes.warnings) log(`WARNING: ${w}`);
  if (probes.notInBtf.length) log(`no BTF entry (inlined?) for: ${probes.notInBtf.join(', ')}`);
  const events = readEvents();

  const work = join(cache, 'build', `${gen}-${opts.workload}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const bin = buildWorkload(opts.workload, work);
    const initrd = join(work, 'initrd.gz');
    writeFileSync(initrd, buildInitramfs(bin, probes.lines, events));
    writeFileSync(join(work, 'kprobes.txt'), probes.lines.join('\n') + '\n');
    const serial = join(work, 'serial.raw');
    log(`booting ${k.release} under qemu (tcg) with workload ${opts.workload}`);
    const boot = await bootQemu(k.vmlinuz, initrd, serial, opts.timeoutMs ?? 300_000, log);
    writeFileSync(join(work, 'console.log'), boot.console);
    if (!existsSync(serial)) throw new Error('missing trace markers: qemu wrote no second-serial-port file');
    const sr = parseSerial(readFileSync(serial), boot.console);

    const field = (prefix: string) => sr.lines.filter((l) => l.startsWith(prefix + ' ')).map((l) => l.slice(prefix.length + 1));
    const probesRegistered = field('probe-ok');
    const probesFailed = field('probe-fail').map((l) => ({ probe: l.split(' ')[0]!, error: l.split(' ').slice(1).join(' ').trim() }));
    const eventsEnabled = field('event-ok').filter((e) => e !== 'rmap/*');
    const eventsFailed = field('event-fail');
    const exitCode = Number(field('workload-exit')[0] ?? NaN);
    const [wt0, wt1] = (field('workload-time')[0] ?? '0 0').split(' ').map(Number);
    const ringBufferStats: Record<string, Record<string, string>> = {};
    for (const l of field('stats')) {
      const [cpu, ...rest] = l.split(' ');
      ringBufferStats[cpu!] = Object.fromEntries(rest.join(' ').split(';').filter(Boolean).map((kv) => {
        const i = kv.indexOf(':');
        return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()];
      }));
    }
    const uname = field('uname')[0] ?? '';
    if (!uname.includes(k.release)) log(`WARNING: guest uname "${uname}" does not name ${k.release}`);
    for (const f of probesFailed) log(`probe failed to register: ${f.probe}: ${f.error}`);
    for (const e of eventsFailed) log(`tracepoint not enabled: ${e}`);

    const text = sr.trace.toString('utf8');
    const st = analyseTrace(text);
    const probesWithoutEvents = [
      ...probesRegistered.map((p) => p.split('/')[1]!),
      ...eventsEnabled.map((e) => e.split('/')[1]!),
    ].filter((n) => !st.eventCounts[n]);
    if (exitCode !== 0) throw new Error(`workload ${opts.workload} exited with ${exitCode} in the guest; console tail:\n${tail(boot.console)}`);
    if (st.steps.length === 0 || st.observations === 0) throw new Error(`trace has no STEP/OBS markers (steps ${st.steps.length}, observations ${st.observations})`);

    const gz = gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out + '.tmp', gz);
    renameSync(out + '.tmp', out);

    const qv = run('qemu-system-x86_64', ['--version']).stdout.split('\n')[0]!.trim();
    const meta: CaptureMetadata = {
      schema: 'trollcount-capture-meta/1',
      workload: opts.workload,
      kernelGen: gen,
      kernelRelease: k.release,
      kernelUname: uname,
      kernelPackage: k.pkg,
      kernelPackageVersion: k.version,
      kernelDebSha256: k.debSha256,
      qemuVersion: qv,
      qemuCommand: ['qemu-system-x86_64', ...boot.args.map((a) => a.startsWith(cache) ? relative(cache, a) : a.startsWith('file:' + cache) ? 'file:' + relative(cache, a.slice(5)) : a)],
      busyboxPackageVersion: dpkgInstalled('busybox-static') ?? '?',
      gccVersion: run('gcc', ['--version']).stdout.split('\n')[0]!.trim(),
      date: new Date().toISOString(),
      probeFile: relative(REPO, probes.referenceFile),
      eventsFile: relative(REPO, eventsFile()),
      offsets: probes.offsets,
      probeLines: probes.lines,
      probesMatchReference: probes.mismatches.length === 0,
      probeMismatches: probes.mismatches,
      probeWarnings: probes.warnings,
      probesNotInBtf: probes.notInBtf,
      probesRegistered,
      probesFailed,
      eventsEnabled,
      eventsFailed,
      probesWithoutEvents,
      workloadExitCode: exitCode,
      workloadSeconds: Math.round(((wt1 ?? 0) - (wt0 ?? 0)) * 100) / 100,
      bootMs: boot.ms,
      totalMs: Date.now() - t0,
      ringBufferStats,
      traceFile: basename(out),
      lineCount: st.lineCount,
      traceBytes: Buffer.byteLength(text),
      compressedBytes: gz.length,
      lostEvents: st.lostEvents,
      lostLines: st.lostLines,
      eventCounts: Object.fromEntries(Object.entries(st.eventCounts).sort((a, b) => b[1] - a[1])),
      steps: st.steps,
      observations: st.observations,
      sha256: sha256(gz),
      textSha256: sha256(text),
    };
    writeFileSync(metaPathFor(out), JSON.stringify(meta, null, 2) + '\n');
    log(`wrote ${out} (${st.lineCount} lines, ${gz.length} bytes gz, ${st.lostEvents} lost events) in ${(meta.totalMs / 1000).toFixed(1)} s`);
    rmSync(work, { recursive: true, force: true });
    return meta;
  } catch (e) {
    log(`capture failed; guest files kept in ${work}`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// manual CLI

async function main(argv: string[]): Promise<number> {
  const usage = 'usage: capture.ts --kernel 6.1|6.12 --workload NAME -o OUT.ftrace.gz [--cache-dir DIR] [--timeout SEC]\n' +
    '       capture.ts --all [--out-dir traces/fixtures/real] [--kernel G] [--workload W]   (every kernel x workload)\n' +
    `workloads: ${WORKLOADS.join(', ')}`;
  const a: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--all' || k === '-h' || k === '--help') a[k.replace(/^-+/, '')] = true;
    else if (k.startsWith('-')) {
      const v = argv[++i];
      if (v === undefined) { console.error(`${k} needs a value\n${usage}`); return 2; }
      a[{ '-o': 'out', '--out': 'out', '--kernel': 'kernel', '--workload': 'workload', '--cache-dir': 'cacheDir', '--timeout': 'timeout', '--out-dir': 'outDir' }[k] ?? k] = v;
    } else { console.error(`unexpected argument ${k}\n${usage}`); return 2; }
  }
  if (a.help || a.h) { console.log(usage); return 0; }
  const log = (l: string) => console.error(`[capture] ${l}`);
  const jobs: { kernel: KernelGen; workload: string; out: string }[] = [];
  if (a.all) {
    const outDir = String(a.outDir ?? join(REPO, 'traces', 'fixtures', 'real'));
    for (const g of a.kernel ? [String(a.kernel) as KernelGen] : KERNEL_GENS)
      for (const w of a.workload ? [String(a.workload)] : WORKLOADS) jobs.push({ kernel: g, workload: w, out: join(outDir, `${g}-${w}.ftrace.gz`) });
  } else {
    if (!a.kernel || !a.workload || !a.out) { console.error(usage); return 2; }
    jobs.push({ kernel: String(a.kernel) as KernelGen, workload: String(a.workload), out: String(a.out) });
  }
  let failed = 0;
  for (const j of jobs) {
    try {
      const m = await capture({ ...j, cacheDir: a.cacheDir ? String(a.cacheDir) : undefined, log, timeoutMs: a.timeout ? Number(a.timeout) * 1000 : undefined });
      console.log(`${j.out}: ${m.kernelPackage} ${m.kernelPackageVersion}, ${m.lineCount} lines, ${m.lostEvents} lost, ${m.probesFailed.length} probes failed, ${(m.totalMs / 1000).toFixed(1)} s`);
    } catch (e) {
      failed++;
      console.error(`${j.out}: ${e instanceof CaptureUnavailableError ? 'SKIPPED' : 'FAILED'}: ${(e as Error).message}`);
      if (e instanceof CaptureUnavailableError) return 3;
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(e); process.exitCode = 1; });
}
