// Generate the kprobe definitions for a kernel from the project's reference definitions
// (probes/reference-kprobes-<gen>.txt, copied verbatim from shared/reference/probes), with every
// struct offset and every argument position re-derived from that kernel's BTF, then compare the
// result with the reference text.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Btf } from './btf.ts';

export type KernelGen = '6.1' | '6.12';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PROBE_DIR = join(HERE, 'probes');
export const referenceKprobeFile = (gen: KernelGen): string => join(PROBE_DIR, `reference-kprobes-${gen}.txt`);
export const eventsFile = (): string => join(PROBE_DIR, 'events.txt');

/** `${pointee struct}:${fetcharg name}` -> [member, index of the struct page it lives in]. */
const FIELD_MEMBERS: Record<string, [string, 0 | 1]> = {
  // 6.1: struct page, head page and first tail page
  'page:pflags': ['flags', 0],
  'page:chead': ['compound_head', 0],
  'page:mapcount': ['_mapcount', 0],
  'page:pmapcount': ['_mapcount', 0],
  'page:refcount': ['_refcount', 0],
  'page:flags1': ['flags', 1],
  'page:cmapcount': ['compound_mapcount', 1],
  'page:order': ['compound_order', 1],
  'page:pincount': ['compound_pincount', 1],
  // 6.12: struct folio (its first-tail fields are members of struct folio itself)
  'folio:fflags': ['flags', 0],
  'folio:fmapcount': ['_mapcount', 0],
  'folio:refcount': ['_refcount', 0],
  'folio:flags1': ['_flags_1', 0],
  'folio:large_mapcount': ['_large_mapcount', 0],
  'folio:entire_mapcount': ['_entire_mapcount', 0],
  'folio:nr_pages_mapped': ['_nr_pages_mapped', 0],
  'folio:nr_pages': ['_folio_nr_pages', 0],
  // VMAs and faults
  'vm_area_struct:mm': ['vm_mm', 0],
  'vm_area_struct:dst_mm': ['vm_mm', 0],
  'vm_area_struct:src_mm': ['vm_mm', 0],
  'vm_area_struct:vm_start': ['vm_start', 0],
  'vm_area_struct:start': ['vm_start', 0],
  'vm_area_struct:end': ['vm_end', 0],
  'vm_fault:vma': ['vma', 0],
  'vm_fault:addr': ['address', 0],
};

/** Probe fetch-arg name -> the BTF parameter names it may stand for. */
const ARG_ALIASES: Record<string, string[]> = {
  addr: ['address', 'addr'],
  nr: ['nr_pages', 'nr'],
};

export interface ProbeGeneration {
  gen: KernelGen;
  referenceFile: string;
  /** the kprobe_events lines to register, in reference order */
  lines: string[];
  /** event names (group/event) in the same order */
  probes: string[];
  /** struct offsets derived from BTF, e.g. {"page._mapcount": 48, "page[1].compound_mapcount": 84} */
  offsets: Record<string, number>;
  /** functions probed that have no BTF entry (inlined or absent: registration will likely fail) */
  notInBtf: string[];
  /** differences between the generated lines and the reference text (empty = identical) */
  mismatches: string[];
  /** problems that could not be resolved from BTF (argument names/types that do not fit) */
  warnings: string[];
}

const LINE_RE = /^([pr]):(\S+)\/(\S+)\s+(\S+)(?:\s+(.*))?$/;
const DEREF_RE = /^\+(-?\d+)\(\$arg(\d+)\)(:\S+)?$/;
const ARG_RE = /^\$arg(\d+)(:\S+)?$/;

export function generateKprobes(btf: Btf, gen: KernelGen, referenceText = readFileSync(referenceKprobeFile(gen), 'utf8')): ProbeGeneration {
  const pageSize = btf.sizeOf('page');
  const out: ProbeGeneration = { gen, referenceFile: referenceKprobeFile(gen), lines: [], probes: [], offsets: {}, notInBtf: [], mismatches: [], warnings: [] };
  const refLines = referenceText.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const ref of refLines) {
    const m = LINE_RE.exec(ref);
    if (!m) throw new Error(`${out.referenceFile}: cannot parse probe line: ${ref}`);
    const [, kind, group, event, symbol, argText] = m as unknown as [string, string, string, string, string, string | undefined];
    const params = btf.funcParamTypes(symbol);
    if (!params && !out.notInBtf.includes(symbol)) out.notInBtf.push(symbol);
    const args = (argText ?? '').split(/\s+/).filter(Boolean);
    const newArgs: string[] = [];
    for (const a of args) {
      const eq = a.indexOf('=');
      const name = a.slice(0, eq), val = a.slice(eq + 1);
      let d: RegExpExecArray | null;
      if ((d = DEREF_RE.exec(val))) {
        const refOff = Number(d[1]), argNo = Number(d[2]), type = d[3] ?? '';
        if (!params) { newArgs.push(a); continue; }
        const p = params[argNo - 1];
        if (!p) { out.warnings.push(`${event}: ${name} reads $arg${argNo} but ${symbol}() has ${params.length} parameters`); newArgs.push(a); continue; }
        const st = p.pointee;
        if (st === 'pmd_t') { // pmd value: the pmd_t's only member, at offset 0
          out.offsets['pmd_t.pmd'] = 0;
          newArgs.push(`${name}=+0($arg${argNo})${type}`);
          continue;
        }
        const fm = FIELD_MEMBERS[`${st}:${name}`];
        if (!st || !fm) {
          out.warnings.push(`${event}: no rule for ${name} in ${st ? `struct ${st}` : 'a non-pointer'} ($arg${argNo} = ${p.name} of ${symbol}); kept the reference offset ${refOff}`);
          newArgs.push(a);
          continue;
        }
        const off = btf.memberOffset(st, fm[0]);
        if (off === undefined) {
          out.warnings.push(`${event}: struct ${st} has no member ${fm[0]} (for ${name}); kept the reference offset ${refOff}`);
          newArgs.push(a);
          continue;
        }
        const total = fm[1] * pageSize + off;
        out.offsets[`${st}${fm[1] ? '[1]' : ''}.${fm[0]}`] = total;
        newArgs.push(`${name}=+${total}($arg${argNo})${type}`);
      } else if ((d = ARG_RE.exec(val))) {
        const argNo = Number(d[1]);
        if (params) {
          const p = params[argNo - 1];
          const ok = ARG_ALIASES[name] ?? [name];
          if (!p) out.warnings.push(`${event}: ${name}=$arg${argNo} but ${symbol}() has ${params.length} parameters`);
          else if (!ok.includes(p.name)) {
            // try to find the right position by name
            const idx = params.findIndex((q) => ok.includes(q.name));
            if (idx >= 0) {
              out.warnings.push(`${event}: ${name} is parameter ${idx + 1} (${params[idx]!.name}) of ${symbol}(), not ${argNo} (${p.name}); using ${idx + 1}`);
              newArgs.push(`${name}=$arg${idx + 1}${d[2] ?? ''}`);
              continue;
            }
            // the name just differs (e.g. 'page' for a folio): accept, note it
          }
        }
        newArgs.push(a);
      } else {
        newArgs.push(a); // $retval and the like
      }
    }
    const line = `${kind}:${group}/${event} ${symbol}${newArgs.length ? ' ' + newArgs.join(' ') : ''}`;
    out.lines.push(line);
    out.probes.push(`${group}/${event}`);
    if (line !== ref.replace(/\s+/g, ' ')) {
      const refArgs = args, diffs: string[] = [];
      newArgs.forEach((na, i) => { if (na !== refArgs[i]) diffs.push(`${refArgs[i]} -> ${na}`); });
      out.mismatches.push(`${group}/${event}: ${diffs.join(', ')}`);
    }
  }
  return out;
}

export function readEvents(): string[] {
  return readFileSync(eventsFile(), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}
