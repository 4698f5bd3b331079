import type { Generation } from '../events.ts';
import probes61 from './probes-6.1.json' with { type: 'json' };
import probes612 from './probes-6.12.json' with { type: 'json' };

/**
 * The probe tables that drive the converter: probes-<gen>.json maps each probe / tracepoint name
 * to its event kind and its fetch-arg types (x64 -> lowercase hex string, every other type ->
 * number).
 */

export interface KprobeSpec {
  readonly fn: string;
  readonly ret: boolean;
  readonly fields: Readonly<Record<string, string>>;
}

export interface ProbeTable {
  readonly generation: Generation;
  readonly geometry: { readonly pageSize: number; readonly pmdOrder: number };
  readonly generationMarkers: readonly string[];
  readonly kprobes: Readonly<Record<string, KprobeSpec>>;
  readonly tracepoints: Readonly<Record<string, { readonly ev: string; readonly what?: string }>>;
  readonly syscalls: readonly string[];
}

export const PROBE_TABLES: Readonly<Record<Generation, ProbeTable>> = {
  '6.1': probes61 as unknown as ProbeTable,
  '6.12': probes612 as unknown as ProbeTable,
};

/** Which generation an event name proves, if any. */
const MARKERS = new Map<string, Generation>();
for (const gen of ['6.1', '6.12'] as const) for (const n of PROBE_TABLES[gen].generationMarkers) MARKERS.set(n, gen);

export function detectGeneration(name: string): Generation | undefined {
  return MARKERS.get(name);
}
