// Minimal BTF reader: enough to find struct member offsets (through anonymous unions and
// structs) and function parameter names in a kernel's .BTF section. No external tools.
// Format: include/uapi/linux/btf.h.

import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const BTF_MAGIC = 0xeb9f;

export const BtfKind = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8,
  VOLATILE: 9, CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14,
  DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

export interface BtfMember { name: string; type: number; bitOffset: number }
export interface BtfType {
  id: number;
  kind: number;
  name: string;
  /** size for INT/STRUCT/UNION/ENUM/DATASEC/FLOAT, referenced type id otherwise */
  sizeOrType: number;
  members?: BtfMember[];           // STRUCT / UNION
  params?: { name: string; type: number }[]; // FUNC_PROTO
  arrayElem?: number; arrayNelems?: number;  // ARRAY
}

export class Btf {
  readonly types: BtfType[] = [];  // index = type id (0 = void)
  private byName = new Map<string, BtfType[]>();

  constructor(buf: Buffer) {
    const magic = buf.readUInt16LE(0);
    if (magic !== BTF_MAGIC) throw new Error(`BTF: bad magic 0x${magic.toString(16)}`);
    const hdrLen = buf.readUInt32LE(4);
    const typeOff = buf.readUInt32LE(8), typeLen = buf.readUInt32LE(12);
    const strOff = buf.readUInt32LE(16), strLen = buf.readUInt32LE(20);
    const types = buf.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen);
    const strs = buf.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    const str = (off: number): string => {
      if (off === 0) return '';
      const end = strs.indexOf(0, off);
      return strs.toString('latin1', off, end < 0 ? strs.length : end);
    };
    this.types.push({ id: 0, kind: 0, name: 'void', sizeOrType: 0 });
    let p = 0;
    while (p < types.length) {
      const nameOff = types.readUInt32LE(p), info = types.readUInt32LE(p + 4);
      const sizeOrType = types.readUInt32LE(p + 8);
      p += 12;
      const vlen = info & 0xffff, kind = (info >>> 24) & 0x1f, kflag = info >>> 31;
      const t: BtfType = { id: this.types.length, kind, name: str(nameOff), sizeOrType };
      switch (kind) {
        case BtfKind.INT: p += 4; break;
        case BtfKind.ARRAY:
          t.arrayElem = types.readUInt32LE(p); t.arrayNelems = types.readUInt32LE(p + 8); p += 12; break;
        case BtfKind.STRUCT: case BtfKind.UNION:
          t.members = [];
          for (let i = 0; i < vlen; i++, p += 12) {
            const off = types.readUInt32LE(p + 8);
            t.members.push({ name: str(types.readUInt32LE(p)), type: types.readUInt32LE(p + 4),
              bitOffset: kflag ? off & 0xffffff : off });
          }
          break;
        case BtfKind.ENUM: p += 8 * vlen; break;
        case BtfKind.FUNC_PROTO:
          t.params = [];
          for (let i = 0; i < vlen; i++, p += 8)
            t.params.push({ name: str(types.readUInt32LE(p)), type: types.readUInt32LE(p + 4) });
          break;
        case BtfKind.VAR: p += 4; break;
        case BtfKind.DATASEC: p += 12 * vlen; break;
        case BtfKind.DECL_TAG: p += 4; break;
        case BtfKind.ENUM64: p += 12 * vlen; break;
        case BtfKind.PTR: case BtfKind.FWD: case BtfKind.TYPEDEF: case BtfKind.VOLATILE:
        case BtfKind.CONST: case BtfKind.RESTRICT: case BtfKind.FUNC: case BtfKind.FLOAT:
        case BtfKind.TYPE_TAG: break;
        default: throw new Error(`BTF: unknown kind ${kind} at type ${t.id}`);
      }
      this.types.push(t);
      if (t.name) {
        const l = this.byName.get(t.name);
        if (l) l.push(t); else this.byName.set(t.name, [t]);
      }
    }
  }

  find(name: string, kind: number): BtfType | undefined {
    return this.byName.get(name)?.find((t) => t.kind === kind);
  }

  struct(name: string): BtfType {
    const t = this.types.find((x) => x.kind === BtfKind.STRUCT && x.name === name && (x.members?.length ?? 0) > 0);
    if (!t) throw new Error(`BTF: struct ${name} not found`);
    return t;
  }

  /** Strip typedef/const/volatile/restrict/type_tag. */
  resolve(id: number): BtfType {
    let t = this.types[id]!;
    while (([BtfKind.TYPEDEF, BtfKind.CONST, BtfKind.VOLATILE, BtfKind.RESTRICT, BtfKind.TYPE_TAG] as number[]).includes(t.kind))
      t = this.types[t.sizeOrType]!;
    return t;
  }

  /** Byte offset of a named member, searching nested anonymous structs/unions (first match
   * in declaration order, as C name lookup does). undefined if absent. */
  memberOffset(structName: string, member: string): number | undefined {
    const walk = (t: BtfType, base: number): number | undefined => {
      for (const m of t.members ?? []) {
        if (m.name === member) return base + m.bitOffset;
        if (m.name === '') {
          const sub = this.resolve(m.type);
          if (sub.kind === BtfKind.STRUCT || sub.kind === BtfKind.UNION) {
            const r = walk(sub, base + m.bitOffset);
            if (r !== undefined) return r;
          }
        }
      }
      return undefined;
    };
    const bits = walk(this.struct(structName), 0);
    if (bits === undefined) return undefined;
    if (bits % 8) throw new Error(`BTF: ${structName}.${member} is a bitfield`);
    return bits / 8;
  }

  sizeOf(structName: string): number { return this.struct(structName).sizeOrType; }

  /** For a pointer type: the name of the pointed-to struct/union/typedef ('pmd_t', 'page'),
   * otherwise the resolved type's name ('' for anonymous). */
  pointee(id: number): string | undefined {
    let t = this.types[id]!;
    while (([BtfKind.CONST, BtfKind.VOLATILE, BtfKind.RESTRICT, BtfKind.TYPE_TAG, BtfKind.TYPEDEF] as number[]).includes(t.kind)) t = this.types[t.sizeOrType]!;
    if (t.kind !== BtfKind.PTR) return undefined;
    t = this.types[t.sizeOrType]!;
    while (([BtfKind.CONST, BtfKind.VOLATILE, BtfKind.RESTRICT, BtfKind.TYPE_TAG] as number[]).includes(t.kind)) t = this.types[t.sizeOrType]!;
    return t.name;
  }

  /** Parameters of a function with, for pointers, the pointed-to type name. */
  funcParamTypes(name: string): { name: string; pointee?: string }[] | undefined {
    const f = this.find(name, BtfKind.FUNC);
    if (!f) return undefined;
    const proto = this.types[f.sizeOrType]!;
    return (proto.params ?? []).map((p) => ({ name: p.name, pointee: this.pointee(p.type) }));
  }

  /** Parameter names of a function (undefined if the function has no BTF entry). */
  funcParams(name: string): string[] | undefined {
    const f = this.find(name, BtfKind.FUNC);
    if (!f) return undefined;
    const proto = this.types[f.sizeOrType]!;
    return (proto.params ?? []).map((p) => p.name);
  }
}

/** Find section `name` in an ELF64 little-endian image. */
export function elfSection(elf: Buffer, name: string): Buffer | undefined {
  if (elf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error('only ELF64 little-endian supported');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a), shnum = elf.readUInt16LE(0x3c), shstrndx = elf.readUInt16LE(0x3e);
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: elf.readUInt32LE(o), offset: Number(elf.readBigUInt64LE(o + 0x18)), size: Number(elf.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = sh(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    const start = strtab.offset + s.name;
    const n = elf.toString('latin1', start, elf.indexOf(0, start));
    if (n === name) return elf.subarray(s.offset, s.offset + s.size);
  }
  return undefined;
}

/** Decompress the vmlinux ELF out of an x86 bzImage, using the boot header's payload fields
 * (setup_sects at 0x1f1, payload_offset/payload_length at 0x248) and the host's xz/zstd/gzip. */
export function extractVmlinux(bzImage: Buffer): Buffer {
  if (bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new Error('vmlinuz: no bzImage header (HdrS)');
  const setupSects = bzImage[0x1f1] || 4;
  const payloadOffset = bzImage.readUInt32LE(0x248), payloadLength = bzImage.readUInt32LE(0x24c);
  const start = (setupSects + 1) * 512 + payloadOffset;
  const payload = bzImage.subarray(start, start + payloadLength);
  const magic = payload.subarray(0, 6).toString('hex');
  let tool: string[];
  if (magic.startsWith('fd377a585a00')) tool = ['xz', '-dc'];
  else if (magic.startsWith('28b52ffd')) tool = ['zstd', '-dcq'];
  else if (magic.startsWith('1f8b')) tool = ['gzip', '-dc'];
  else throw new Error(`vmlinuz: unknown payload compression (magic ${magic})`);
  const r = spawnSync(tool[0]!, tool.slice(1), { input: payload, maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`vmlinuz: cannot run ${tool[0]}: ${r.error.message}`);
  // zstd/xz may complain about trailing bytes (the payload length includes a size trailer); accept
  // the output if it is an ELF.
  const out = r.stdout as Buffer;
  if (out.length < 64 || out.readUInt32BE(0) !== 0x7f454c46)
    throw new Error(`vmlinuz: ${tool[0]} did not produce an ELF (${r.stderr.toString().trim()})`);
  return out;
}

export function btfFromVmlinuz(path: string): Btf {
  const elf = extractVmlinux(readFileSync(path));
  const sec = elfSection(elf, '.BTF');
  if (!sec) throw new Error(`${path}: vmlinux has no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?)`);
  return new Btf(Buffer.from(sec));
}
