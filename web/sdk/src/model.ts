// The client side of replica (docs/SYNC.md): the client's copy of the zone
// and of the entities the server shows it. It mirrors the Go
// replica.Model message for message — same repairs, same checksums, same
// DESYNC reports — and does no I/O.

import type { Message } from "./messages.js";

/** The most int32 fields an entity kind may have (replica.MaxFields). */
export const MAX_FIELDS = 16;

/** DESYNC reasons (replica.Reason*). */
export const DesyncReason = {
  /** A resync STATE differed from the entity held (Mask names the fields). */
  fields: "fields",
  /** A resync STATE named an entity the client lacked. */
  missing: "missing",
  /** The client held an entity of a resync slice the server did not send. */
  extra: "extra",
  /** A DELTA named an entity the client lacks. */
  unknown: "unknown",
  /** A resync slice's checksum failed. */
  checksum: "checksum",
  /** A snapshot's checksum or count failed. */
  snapshot: "snapshot",
} as const;

/** One thing a {@link Model} found out of sync; send it as DESYNC id mask reason. */
export interface DesyncReport {
  /** The entity, or 0 for checksum and snapshot reports. */
  id: number;
  /** The fields that differed (bit i = field i). */
  mask: number;
  /** One of {@link DesyncReason}. */
  reason: string;
}

/** An entity as a client holds it (replica.ModelEntity). */
export interface ModelEntity {
  /** The entity id; never reused. */
  id: number;
  /** The kind number, as announced by KIND. */
  kind: number;
  /** The entity's name ("" for most kinds). */
  name: string;
  /** MAX_FIELDS fields in number order (0 = x, 1 = y); hidden fields are 0. */
  vals: Int32Array;
}

/** An entity kind as announced by KIND (replica.ModelKind). */
export interface ModelKind {
  /** The kind number. */
  num: number;
  /** The kind's name, e.g. "tank". */
  name: string;
  /** Field names in number order; fields[0] is "x", fields[1] is "y". */
  fields: string[];
  /** Event names in number order. */
  events: string[];
}

/** The zone the client is in (replica.ZoneInfo). id is -1 before the first ZONE. */
export interface ZoneInfo {
  /** The zone id, -1 before the first ZONE. */
  id: number;
  /** Width in tiles. */
  w: number;
  /** Height in tiles. */
  h: number;
  /** Size of one tile in position units. */
  unit: number;
}

const FNV_OFFSET = 2166136261;
const FNV_PRIME = 16777619;

function fnvByte(h: number, b: number): number {
  return Math.imul(h ^ (b & 0xff), FNV_PRIME) >>> 0;
}

function fnvU32(h: number, v: number): number {
  h = fnvByte(h, v);
  h = fnvByte(h, v >>> 8);
  h = fnvByte(h, v >>> 16);
  return fnvByte(h, v >>> 24);
}

const utf8 = new TextEncoder();

/**
 * entityHash is an entity's checksum contribution (replica.EntityHash):
 * FNV-1a 32 over its id, kind, each of vals as a little-endian int32, and
 * the UTF-8 bytes of its name.
 */
export function entityHash(id: number, kind: number, vals: ArrayLike<number>, name: string): number {
  let h = fnvU32(FNV_OFFSET, id >>> 0);
  h = fnvByte(h, kind);
  for (let i = 0; i < vals.length; i++) h = fnvU32(h, vals[i] >>> 0);
  for (const b of utf8.encode(name)) h = fnvByte(h, b);
  return h;
}

/**
 * tilesHash is a w x h tile map's checksum contribution
 * (replica.TilesHash): FNV-1a 32 over w and h as little-endian uint16 and
 * every tile byte, row by row.
 */
export function tilesHash(w: number, h: number, tiles: ArrayLike<number>): number {
  let s = fnvByte(FNV_OFFSET, w);
  s = fnvByte(s, w >>> 8);
  s = fnvByte(s, h);
  s = fnvByte(s, h >>> 8);
  for (let i = 0; i < tiles.length; i++) s = fnvByte(s, tiles[i]);
  return s;
}

/** The replica messages a {@link Model} applies. */
export type ReplicaMessage = Message<"KIND" | "ZONE" | "TILES" | "ENTER" | "DELTA" | "REMOVE" | "ACK" | "SNAPEND" | "STATE" | "RSLICE">;

/** isReplicaMessage reports whether m is one of the messages a Model applies. */
export function isReplicaMessage(m: { type: string }): m is ReplicaMessage {
  switch (m.type) {
    case "KIND":
    case "ZONE":
    case "TILES":
    case "ENTER":
    case "DELTA":
    case "REMOVE":
    case "ACK":
    case "SNAPEND":
    case "STATE":
    case "RSLICE":
      return true;
  }
  return false;
}

/**
 * Model is the client's copy of the zone and of the entities the server
 * shows it, kept by applying the server's replica messages in order with
 * {@link Model.apply}. It verifies snapshot and resync checksums, repairs
 * itself from resync slices, and returns what it had to repair as DESYNC
 * reports to send back. Its semantics are exactly those of the Go
 * replica.Model.
 */
export class Model {
  private readonly kinds = new Map<number, ModelKind>();
  private readonly ents = new Map<number, ModelEntity>();
  private readonly slice = new Set<number>();
  private zoneInfo: ZoneInfo = { id: -1, w: 0, h: 0, unit: 0 };
  private tileMap = new Uint8Array(0);
  private loadingSnap = false;
  private snapNum = 0;
  private own = 0;
  private lastAckSeq = 0;
  /** Incremented whenever the tile map changes (a new ZONE or TILES), for renderers that cache it. */
  tilesVersion = 0;

  private nfields(kind: number): number {
    const k = this.kinds.get(kind);
    return k ? Math.min(k.fields.length, MAX_FIELDS) : MAX_FIELDS;
  }

  private hash(e: ModelEntity): number {
    return entityHash(e.id, e.kind, e.vals.subarray(0, this.nfields(e.kind)), e.name);
  }

  /**
   * apply applies one message from the server. Messages that are not
   * replica messages are ignored, so a client may pass everything it
   * receives. It returns the reports of what it found out of sync (already
   * repaired), or null.
   */
  apply(m: { type: string }): DesyncReport[] | null {
    if (!isReplicaMessage(m)) return null;
    switch (m.type) {
      case "KIND":
        this.kinds.set(m.kind, {
          num: m.kind,
          name: m.name,
          fields: m.fields.split(","),
          events: m.events ? m.events.split(",") : [],
        });
        return null;
      case "ZONE":
        this.zoneInfo = { id: m.zone, w: m.w, h: m.h, unit: m.unit };
        this.tileMap = new Uint8Array(m.w * m.h);
        this.tilesVersion++;
        this.ents.clear();
        this.slice.clear();
        this.loadingSnap = true;
        this.snapNum = m.snap;
        return null;
      case "TILES":
        if (m.y < this.zoneInfo.h && m.x + m.tiles.length <= this.zoneInfo.w) {
          this.tileMap.set(m.tiles, m.y * this.zoneInfo.w + m.x);
          this.tilesVersion++;
        }
        return null;
      case "ENTER":
        this.put(m.id, m.kind, m.vals, m.name ?? "");
        return null;
      case "DELTA": {
        const e = this.ents.get(m.id);
        if (!e) return [{ id: m.id, mask: m.mask, reason: DesyncReason.unknown }];
        let i = 0;
        for (let mask = m.mask; mask !== 0 && i < m.vals.length; mask &= mask - 1) {
          let f = 0;
          while ((mask & (1 << f)) === 0) f++;
          // Relative: add the difference, wrapping round in int32 as Go does.
          e.vals[f] = (e.vals[f] + m.vals[i++]) | 0;
        }
        return null;
      }
      case "REMOVE":
        this.ents.delete(m.id);
        return null;
      case "ACK": {
        this.own = m.id;
        this.lastAckSeq = m.seq;
        const e = this.ents.get(m.id);
        if (e && m.vals.length > 0) e.vals.set(m.vals.slice(0, MAX_FIELDS));
        return null;
      }
      case "SNAPEND": {
        this.loadingSnap = false;
        let sum = tilesHash(this.zoneInfo.w, this.zoneInfo.h, this.tileMap);
        for (const e of this.ents.values()) sum = (sum + this.hash(e)) >>> 0;
        if (sum !== m.sum || this.ents.size !== m.count) return [{ id: 0, mask: 0, reason: DesyncReason.snapshot }];
        return null;
      }
      case "STATE":
        return this.state(m);
      case "RSLICE":
        return this.sliceEnd(m);
    }
    return null;
  }

  private put(id: number, kind: number, vals: number[], name: string): ModelEntity {
    const e: ModelEntity = { id, kind, name, vals: new Int32Array(MAX_FIELDS) };
    e.vals.set(vals.slice(0, MAX_FIELDS));
    this.ents.set(id, e);
    return e;
  }

  private allMask(kind: number): number {
    return ((1 << this.nfields(kind)) - 1) & 0xffff;
  }

  private state(x: Message<"STATE">): DesyncReport[] | null {
    const name = x.name ?? "";
    this.slice.add(x.id);
    const e = this.ents.get(x.id);
    if (!e) {
      this.put(x.id, x.kind, x.vals, name);
      return [{ id: x.id, mask: this.allMask(x.kind), reason: DesyncReason.missing }];
    }
    let diff = 0;
    const n = this.nfields(x.kind);
    for (let i = 0; i < n; i++) {
      if (e.vals[i] !== (x.vals[i] ?? 0)) diff |= 1 << i;
    }
    if (e.kind !== x.kind) diff = this.allMask(x.kind);
    if (diff === 0 && e.name === name) return null;
    this.put(x.id, x.kind, x.vals, name);
    return [{ id: x.id, mask: diff, reason: DesyncReason.fields }];
  }

  private sliceEnd(x: Message<"RSLICE">): DesyncReport[] | null {
    const out: DesyncReport[] = [];
    let sum = 0;
    for (const [id, e] of this.ents) {
      if (id % x.mod !== x.rem) continue;
      if (!this.slice.has(id)) {
        this.ents.delete(id);
        out.push({ id, mask: 0, reason: DesyncReason.extra });
        continue;
      }
      sum = (sum + this.hash(e)) >>> 0;
    }
    this.slice.clear();
    if (sum !== x.sum) out.push({ id: 0, mask: 0, reason: DesyncReason.checksum });
    return out.length ? out : null;
  }

  /** entity returns entity id as held (not a copy: do not modify it), or undefined. */
  entity(id: number): ModelEntity | undefined {
    return this.ents.get(id);
  }

  /** entities iterates over every entity held, in no particular order. */
  entities(): IterableIterator<ModelEntity> {
    return this.ents.values();
  }

  /** size is the number of entities held. */
  get size(): number {
    return this.ents.size;
  }

  /** kind returns the entity kind numbered k, as announced by KIND. */
  kind(k: number): ModelKind | undefined {
    return this.kinds.get(k);
  }

  /** kindByName returns the entity kind called name, as announced by KIND. */
  kindByName(name: string): ModelKind | undefined {
    for (const k of this.kinds.values()) if (k.name === name) return k;
    return undefined;
  }

  /** field returns the number of the field called name in kind k, or -1. */
  field(k: number, name: string): number {
    return this.kinds.get(k)?.fields.indexOf(name) ?? -1;
  }

  /** get returns the value of the field called name of entity e, or 0 if its kind has no such field. */
  get(e: ModelEntity, name: string): number {
    const f = this.field(e.kind, name);
    return f >= 0 ? e.vals[f] : 0;
  }

  /** zone describes the current zone; its id is -1 before the first ZONE. */
  get zone(): ZoneInfo {
    return this.zoneInfo;
  }

  /** tiles is the zone's tile map, row by row (w * h bytes). */
  get tiles(): Uint8Array {
    return this.tileMap;
  }

  /** tile returns the tile at column x, row y, or undefined outside the zone. */
  tile(x: number, y: number): number | undefined {
    if (x < 0 || y < 0 || x >= this.zoneInfo.w || y >= this.zoneInfo.h) return undefined;
    return this.tileMap[y * this.zoneInfo.w + x];
  }

  /** loading reports whether a snapshot has started and not yet completed. */
  get loading(): boolean {
    return this.loadingSnap;
  }

  /** snap is the number of the last snapshot started. */
  get snap(): number {
    return this.snapNum;
  }

  /** ownId is the client's own entity as named by the last ACK, or 0. */
  get ownId(): number {
    return this.own;
  }

  /** lastAck is the sequence number of the last ACK applied. */
  get lastAck(): number {
    return this.lastAckSeq;
  }
}
