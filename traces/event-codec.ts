/**
 * Events as numbers, to hand them from the reader thread (traces/jsonl-thread.ts) to the replay:
 * a structured clone of event objects costs the receiving thread twice what JSON.parse of their
 * text costs, which would defeat reading on another core. A batch is two typed arrays (words and
 * doubles) and the strings the receiving side has not seen yet; the receiver rebuilds each value
 * as JSON.parse made it on the sending side (same keys in the same order, same numbers, same strings).
 *
 * Both sides keep the same tables, filled in the same order:
 * - string values in `strings` slots reused first in, first out (a trace of ever-new addresses
 *   keeps both bounded); a string travels with the word that first names its slot;
 * - object keys (a trace has a few dozen) and object shapes (key sequences), up to `keys` and `shapes`,
 *   never reused; an object of a known shape is its shape's number and its values, and the receiver
 *   builds it with an object literal compiled for the shape.
 */

/** The sizes of the encoder's tables (the decoder follows whatever the encoder numbers). */
export interface CodecTables {
  readonly strings: number;
  readonly keys: number;
  readonly shapes: number;
}
const TABLES: CodecTables = { strings: 1 << 16, keys: 1 << 12, shapes: 1 << 12 };
/** A key or shape beyond the tables: sent in full each time. */
const UNNUMBERED = 0x7fffffff;

/** Value tags; a string's word is its slot, or ~slot when the batch carries it (next in `strings`). */
const enum Tag {
  Int = 0,
  Float = 1,
  Str = 2,
  True = 3,
  False = 4,
  Null = 5,
  Arr = 6,
  /** An object of a known shape: the shape's number, then the values in its key order. */
  Obj = 7,
  /** An object of a new shape: its number (or UNNUMBERED), the key count and keys, then the values. */
  NewObj = 8,
}

export interface EncodedBatch {
  /** Per event: its line, then its value. */
  readonly words: Int32Array;
  readonly doubles: Float64Array;
  /** The strings new to the receiver, in the order their words name them. */
  readonly strings: readonly string[];
}

/**
 * A node of the encoder's trie of key sequences: the shape that ends here, and the longer ones by
 * key. Each node remembers the key it last went on by (keys from JSON.parse are internalised: one
 * pointer compare), and a shape the string of each field in the object before (three fields in four
 * repeat it: a string compare instead of hashing it).
 */
interface ShapeNode {
  shape: number;
  readonly next: Map<string, ShapeNode>;
  lastKey: string | undefined;
  lastNext: ShapeNode | undefined;
  readonly lastString: (string | undefined)[];
  readonly lastSlot: number[];
}

const shapeNode = (): ShapeNode => ({ shape: UNNUMBERED, next: new Map(), lastKey: undefined, lastNext: undefined, lastString: [], lastSlot: [] });

export class EventEncoder {
  private readonly slotOf = new Map<string, number>();
  private readonly slots: (string | undefined)[];
  private nextSlot = 0;
  private readonly keyOf = new Map<string, number>();
  private readonly shapes: ShapeNode = shapeNode();
  private nextShape = 0;
  private words = new Int32Array(1 << 16);
  private n = 0;
  private doubles = new Float64Array(1 << 12);
  private nd = 0;
  private strings: string[] = [];

  constructor(private readonly tables: CodecTables = TABLES) {
    this.slots = new Array<string | undefined>(tables.strings);
  }

  /** Append one event (a JSON value) found at `line`. */
  add(line: number, value: unknown): void {
    this.word(line);
    this.value(value);
  }

  /** Words written since the last take(). */
  get pending(): number {
    return this.n;
  }

  /** The batch so far (copies), and start the next. */
  take(): EncodedBatch {
    const b = { words: this.words.slice(0, this.n), doubles: this.doubles.slice(0, this.nd), strings: this.strings };
    this.n = 0;
    this.nd = 0;
    this.strings = [];
    return b;
  }

  private word(w: number): void {
    if (this.n === this.words.length) {
      const grown = new Int32Array(this.words.length * 2);
      grown.set(this.words);
      this.words = grown;
    }
    this.words[this.n++] = w;
  }

  /** Write the string's word; its slot. */
  private string(s: string): number {
    const slot = this.slotOf.get(s);
    if (slot !== undefined) {
      this.word(slot);
      return slot;
    }
    const fresh = this.nextSlot;
    this.nextSlot = (fresh + 1) % this.tables.strings;
    const old = this.slots[fresh];
    if (old !== undefined) this.slotOf.delete(old);
    this.slots[fresh] = s;
    this.slotOf.set(s, fresh);
    this.strings.push(s);
    this.word(~fresh);
    return fresh;
  }

  private key(k: string): void {
    const id = this.keyOf.get(k);
    if (id !== undefined) return this.word(id);
    if (this.keyOf.size === this.tables.keys) {
      this.word(UNNUMBERED);
      this.strings.push(k);
      return;
    }
    const fresh = this.keyOf.size;
    this.keyOf.set(k, fresh);
    this.strings.push(k);
    this.word(~fresh);
  }

  private value(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.word(Tag.Str);
        this.string(v);
        return;
      case 'number':
        if ((v | 0) === v && !Object.is(v, -0)) {
          this.word(Tag.Int);
          return this.word(v);
        }
        this.word(Tag.Float);
        if (this.nd === this.doubles.length) {
          const grown = new Float64Array(this.doubles.length * 2);
          grown.set(this.doubles);
          this.doubles = grown;
        }
        this.doubles[this.nd++] = v;
        return;
      case 'boolean':
        return this.word(v ? Tag.True : Tag.False);
      case 'object':
        if (v === null) return this.word(Tag.Null);
        if (Array.isArray(v)) {
          this.word(Tag.Arr);
          this.word(v.length);
          for (const x of v) this.value(x);
          return;
        }
        return this.object(v as Record<string, unknown>);
      default:
        throw new Error(`event codec: a JSON value cannot be ${typeof v}`);
    }
  }

  private object(o: Record<string, unknown>): void {
    let node = this.shapes;
    for (const k in o) {
      const next = node.lastKey === k ? node.lastNext : node.next.get(k);
      if (next === undefined) return this.newObject(o);
      node.lastKey = k;
      node.lastNext = next;
      node = next;
    }
    if (node.shape === UNNUMBERED) return this.newObject(o);
    this.word(Tag.Obj);
    this.word(node.shape);
    let i = 0;
    for (const k in o) {
      const v = o[k];
      if (typeof v !== 'string') this.value(v);
      else {
        this.word(Tag.Str);
        const slot = node.lastSlot[i];
        // the field's string of the object before, if its slot still holds it
        if (v === node.lastString[i] && this.slots[slot] === v) this.word(slot);
        else {
          node.lastString[i] = v;
          node.lastSlot[i] = this.string(v);
        }
      }
      i++;
    }
  }

  /** An object of a shape without a number yet: it gets one (while there are), its keys go with it. */
  private newObject(o: Record<string, unknown>): void {
    const keys = Object.keys(o);
    this.word(Tag.NewObj);
    const at = this.n;
    this.word(UNNUMBERED);
    this.word(keys.length);
    let node: ShapeNode | undefined = this.shapes;
    for (const k of keys) {
      this.key(k);
      // a key beyond the key table: the shape cannot be numbered (the decoder has no number for the key)
      if (node === undefined || !this.keyOf.has(k)) node = undefined;
      else {
        let next = node.next.get(k);
        if (!next) node.next.set(k, (next = shapeNode()));
        node = next;
      }
    }
    // "__proto__" in an object literal sets the prototype: such a shape stays unnumbered
    if (node && node.shape === UNNUMBERED && this.nextShape < this.tables.shapes && !keys.includes('__proto__')) node.shape = this.nextShape++;
    if (node) this.words[at] = node.shape;
    for (const k of keys) this.value(o[k]);
  }
}

type Build = (d: EventDecoder) => Record<string, unknown>;

export class EventDecoder {
  private readonly table: string[] = [];
  private readonly keys: string[] = [];
  private readonly shapes: Build[] = [];
  private words: Int32Array = new Int32Array(0);
  private doubles: Float64Array = new Float64Array(0);
  private strings: readonly string[] = [];
  private i = 0;
  private d = 0;
  private s = 0;

  /** Each event of the batch, with the line it was found at. */
  decode(batch: EncodedBatch, each: (line: number, value: unknown) => void): void {
    this.words = batch.words;
    this.doubles = batch.doubles;
    this.strings = batch.strings;
    this.i = 0;
    this.d = 0;
    this.s = 0;
    const end = batch.words.length;
    while (this.i < end) {
      const line = this.words[this.i++];
      each(line, this.value());
    }
  }

  private string(): string {
    const w = this.words[this.i++];
    if (w >= 0) return this.table[w];
    const str = this.strings[this.s++];
    this.table[~w] = str;
    return str;
  }

  private key(): string {
    const w = this.words[this.i++];
    if (w >= 0 && w !== UNNUMBERED) return this.keys[w];
    const k = this.strings[this.s++];
    if (w !== UNNUMBERED) this.keys[~w] = k;
    return k;
  }

  /** The next value (the compiled shapes call it for each field). */
  value(): unknown {
    switch (this.words[this.i++] as Tag) {
      case Tag.Int:
        return this.words[this.i++];
      case Tag.Float:
        return this.doubles[this.d++];
      case Tag.Str:
        return this.string();
      case Tag.True:
        return true;
      case Tag.False:
        return false;
      case Tag.Null:
        return null;
      case Tag.Arr: {
        const n = this.words[this.i++];
        const a: unknown[] = [];
        for (let k = 0; k < n; k++) a.push(this.value());
        return a;
      }
      case Tag.Obj:
        return this.shapes[this.words[this.i++]](this);
      case Tag.NewObj: {
        const shape = this.words[this.i++];
        const n = this.words[this.i++];
        const keys: string[] = [];
        for (let k = 0; k < n; k++) keys.push(this.key());
        if (shape !== UNNUMBERED) this.shapes[shape] = compileShape(keys);
        const o: Record<string, unknown> = {};
        for (const k of keys) {
          const v = this.value();
          // JSON.parse makes "__proto__" an own field; an assignment would set the prototype
          if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
          else o[k] = v;
        }
        return o;
      }
      default:
        throw new Error(`event codec: bad tag at word ${this.i - 1}`);
    }
  }
}

/**
 * An object literal with the shape's keys, its values read in order: V8 gives a literal its hidden
 * class when it compiles it, where field-by-field stores would walk the class transitions for every
 * object (measured: the literal builds an event in a third of the time).
 */
function compileShape(keys: readonly string[]): Build {
  const fields = keys.map((k) => `${JSON.stringify(k)}: d.value()`).join(', ');
  return new Function('d', `return { ${fields} };`) as Build;
}
