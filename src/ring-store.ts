// An off-heap FIFO store of text records, each found by two keys: the cold majority of a node's
// status cache (payments as their encoded JSON, by id and by token).
//
// Why off the heap: a major GC marks every live heap object, and on the bench's VMs that costs
// about 0.4 µs per object however small (200,000 cached payments as decoded objects: a 188–324
// ms full GC; as one string each: 88–109 ms; benchmark-history.md, nineteenth pass). The records
// here live in one Buffer and the two indexes in typed arrays, which the GC never looks inside.
//
// The arena is a ring: records are appended at the head, and the oldest are dropped at the tail
// to make room (by bytes and by count), taking their index entries along. The indexes are
// open-addressing hash tables (linear probing, deletion by backward shift, so no tombstones
// pile up), holding each record's offset in the arena and its key's hash.

/** Record header: u32 whole length (0 marks padding to the arena's end), u32 version, u16 key bytes, u16 second-key bytes. */
const HEADER_BYTES = 12;
/** Keys are ids and tokens; a u16 holds their byte length. */
const MAX_KEY_BYTES = 0xffff;
const EMPTY = -1;
/**
 * Keys are stored as UTF-8 and read back to find and unindex their records, so a key must come
 * back as it went in; a lone surrogate would not (and an unindexable entry would stay in its
 * table for good). Ids and tokens have none: keys with any surrogate are refused.
 */
const SURROGATE = /[\uD800-\uDFFF]/;

/** FNV-1a over the UTF-16 code units (32 bits). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** One of the two indexes: key hash → the record's offset in the arena. */
interface Index {
  hashes: Uint32Array;
  offsets: Int32Array;
}

export class RingStore {
  private readonly arena: Buffer;
  private readonly arenaBytes: number;
  /** Absolute positions (offset = position % arenaBytes): the next write, and the oldest record or padding. */
  private head = 0;
  private tail = 0;
  /** Records in the arena (superseded ones too, until the tail passes them). */
  private count = 0;
  /** Records their key still finds. */
  private keyed = 0;
  private readonly mask: number;
  private readonly byKey: Index;
  private readonly byKey2: Index;

  /**
   * @param maxRecords records held at most (the oldest go first past it)
   * @param arenaBytes bytes of records held at most (likewise); a record over a quarter of it is refused
   */
  constructor(private readonly maxRecords: number, arenaBytes: number) {
    if (!(maxRecords >= 1) || !(arenaBytes >= 1024) || arenaBytes > 0x7fff_ffff) throw new Error('a ring store needs maxRecords >= 1 and 1 KiB to 2 GiB of arena');
    this.arenaBytes = arenaBytes;
    // Uninitialised: the OS backs the pages only as records reach them, so an empty cache costs
    // no resident memory. Nothing is read from the arena before it is written.
    this.arena = Buffer.allocUnsafeSlow(arenaBytes);
    let slots = 1;
    while (slots < maxRecords * 2) slots *= 2; // load factor at most 1/2: short probe runs
    this.mask = slots - 1;
    const index = (): Index => ({ hashes: new Uint32Array(slots), offsets: new Int32Array(slots).fill(EMPTY) });
    this.byKey = index();
    this.byKey2 = index();
  }

  /** Records their key finds. */
  get size(): number {
    return this.keyed;
  }

  /**
   * Appends a record, replacing the key's earlier one (the second key of that one stops finding
   * anything); drops the oldest records as needed. False, and nothing stored or dropped, for a
   * record too large to keep or a key with a surrogate (the caller then does without it).
   */
  set(key: string, key2: string, version: number, value: string): boolean {
    const keyBytes = Buffer.byteLength(key);
    const key2Bytes = Buffer.byteLength(key2);
    const len = HEADER_BYTES + keyBytes + key2Bytes + Buffer.byteLength(value);
    if (keyBytes > MAX_KEY_BYTES || key2Bytes > MAX_KEY_BYTES || len > this.arenaBytes / 4 || !(version >= 0 && version <= 0xffff_ffff)) return false;
    if (SURROGATE.test(key) || SURROGATE.test(key2)) return false;
    this.unindex(key);
    // A record never wraps: if it does not fit before the arena's end it starts at the next turn.
    let start = this.head;
    const offset = start % this.arenaBytes;
    if (offset + len > this.arenaBytes) start += this.arenaBytes - offset;
    while (this.count >= this.maxRecords || start + len - this.tail > this.arenaBytes) {
      if (this.count === 0) {
        this.tail = this.head = start; // nothing left to drop: the padding is simply skipped
        break;
      }
      this.dropOldest();
    }
    // Padding the evictor can read (a zero length) where the turn was skipped with room for one.
    if (start !== this.head && this.arenaBytes - (this.head % this.arenaBytes) >= HEADER_BYTES) this.arena.writeUInt32LE(0, this.head % this.arenaBytes);
    const o = start % this.arenaBytes;
    const a = this.arena;
    a.writeUInt32LE(len, o);
    a.writeUInt32LE(version, o + 4);
    a.writeUInt16LE(keyBytes, o + 8);
    a.writeUInt16LE(key2Bytes, o + 10);
    let w = o + HEADER_BYTES;
    w += a.write(key, w, 'utf8');
    w += a.write(key2, w, 'utf8');
    w += a.write(value, w, 'utf8');
    if (w !== o + len) throw new Error('invariant: ring store record length');
    this.head = start + len;
    this.count++;
    this.insert(this.byKey, hash(key), o);
    this.keyed++;
    this.unindex2(key2); // a second key names one record, the newest
    this.insert(this.byKey2, hash(key2), o);
    return true;
  }

  /** The record's value by its key. */
  get(key: string): string | undefined {
    const o = this.find(this.byKey, key, 0);
    return o === EMPTY ? undefined : this.valueAt(o);
  }

  /** The record's value by its second key. */
  getByKey2(key2: string): string | undefined {
    const o = this.find(this.byKey2, key2, 1);
    return o === EMPTY ? undefined : this.valueAt(o);
  }

  /** The record's version, without reading its value. */
  version(key: string): number | undefined {
    const o = this.find(this.byKey, key, 0);
    return o === EMPTY ? undefined : this.arena.readUInt32LE(o + 4);
  }

  has(key: string): boolean {
    return this.find(this.byKey, key, 0) !== EMPTY;
  }

  /** Forgets the key's record (its space is reused when the tail passes it). */
  delete(key: string): boolean {
    const o = this.find(this.byKey, key, 0);
    if (o === EMPTY) return false;
    this.unindexAt(o);
    return true;
  }

  /** The keys of the records held (in no particular order). */
  *keys(): IterableIterator<string> {
    const { offsets } = this.byKey;
    for (let i = 0; i < offsets.length; i++) if (offsets[i]! !== EMPTY) yield this.keyAt(offsets[i]!, 0);
  }

  private keyAt(o: number, which: 0 | 1): string {
    const a = this.arena;
    const keyBytes = a.readUInt16LE(o + 8);
    const start = o + HEADER_BYTES + (which === 0 ? 0 : keyBytes);
    return a.toString('utf8', start, start + (which === 0 ? keyBytes : a.readUInt16LE(o + 10)));
  }

  private valueAt(o: number): string {
    const a = this.arena;
    return a.toString('utf8', o + HEADER_BYTES + a.readUInt16LE(o + 8) + a.readUInt16LE(o + 10), o + a.readUInt32LE(o));
  }

  /** The offset of the record the key names, or EMPTY. */
  private find(ix: Index, key: string, which: 0 | 1): number {
    const i = this.slot(ix, key, which);
    return i === EMPTY ? EMPTY : ix.offsets[i]!;
  }

  private slot(ix: Index, key: string, which: 0 | 1): number {
    const h = hash(key);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const o = ix.offsets[i]!;
      if (o === EMPTY) return EMPTY;
      if (ix.hashes[i] === h && this.keyAt(o, which) === key) return i;
    }
  }

  private insert(ix: Index, h: number, o: number): void {
    let i = h & this.mask;
    while (ix.offsets[i] !== EMPTY) i = (i + 1) & this.mask;
    ix.hashes[i] = h;
    ix.offsets[i] = o;
  }

  /** Removes slot i, shifting back the entries after it whose probe run crossed it. */
  private remove(ix: Index, i: number): void {
    const { hashes, offsets } = ix;
    for (let j = i; ; ) {
      offsets[i] = EMPTY;
      for (;;) {
        j = (j + 1) & this.mask;
        if (offsets[j] === EMPTY) return;
        const home = hashes[j]! & this.mask;
        // Entry j may stay if its home lies cyclically in (i, j].
        const stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) break;
      }
      hashes[i] = hashes[j]!;
      offsets[i] = offsets[j]!;
      i = j;
    }
  }

  /** Takes the key's record out of both indexes, if there is one. */
  private unindex(key: string): void {
    const o = this.find(this.byKey, key, 0);
    if (o !== EMPTY) this.unindexAt(o);
  }

  private unindex2(key2: string): void {
    const i = this.slot(this.byKey2, key2, 1);
    if (i === EMPTY) return;
    // The older record keeps its key but loses its second one.
    this.remove(this.byKey2, i);
  }

  /** Takes the record at offset o out of the indexes whose entries point at it. */
  private unindexAt(o: number): void {
    const i = this.slot(this.byKey, this.keyAt(o, 0), 0);
    if (i !== EMPTY && this.byKey.offsets[i] === o) {
      this.remove(this.byKey, i);
      this.keyed--;
    }
    const i2 = this.slot(this.byKey2, this.keyAt(o, 1), 1);
    if (i2 !== EMPTY && this.byKey2.offsets[i2] === o) this.remove(this.byKey2, i2);
  }

  /** Drops the record (or the padding) at the tail. */
  private dropOldest(): void {
    const o = this.tail % this.arenaBytes;
    const left = this.arenaBytes - o;
    if (left < HEADER_BYTES || this.arena.readUInt32LE(o) === 0) {
      this.tail += left; // padding: on to the next turn
      return;
    }
    const len = this.arena.readUInt32LE(o);
    if (len < HEADER_BYTES || len > left) throw new Error('invariant: ring store record at the tail');
    this.unindexAt(o);
    this.tail += len;
    this.count--;
  }
}
