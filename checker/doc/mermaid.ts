import type { AnyStateMachine } from 'xstate';

/**
 * Diagrams and tables drawn from the machines' own definitions (machine.config), so the document
 * shows exactly what executes: every state, every event with its named guard and actions.
 */

interface TransitionConfig {
  target?: string | string[];
  guard?: string | { type: string };
  actions?: string | string[] | { type: string } | ({ type: string } | string)[];
}

interface StateConfig {
  id?: string;
  initial?: string;
  states?: Record<string, StateConfig>;
  on?: Record<string, TransitionConfig | TransitionConfig[] | string>;
  always?: TransitionConfig | TransitionConfig[];
  entry?: string | string[];
  exit?: string | string[];
  type?: string;
}

export interface TransitionRow {
  readonly source: string;
  readonly event: string;
  readonly guard?: string;
  readonly actions: readonly string[];
  readonly target: string;
}

const names = (x: unknown): string[] => {
  if (x === undefined) return [];
  const list = Array.isArray(x) ? x : [x];
  return list.map((a) => (typeof a === 'string' ? a : ((a as { type?: string }).type ?? 'inline')));
};

const asList = (t: TransitionConfig | TransitionConfig[] | string | undefined): TransitionConfig[] =>
  t === undefined ? [] : Array.isArray(t) ? t : typeof t === 'string' ? [{ target: t }] : [t];

/** Every transition of the machine, with state paths like `handle_mm_fault.do_wp_page`. */
export function transitions(machine: AnyStateMachine): TransitionRow[] {
  const root = machine.config as StateConfig;
  const rows: TransitionRow[] = [];
  const byId = new Map<string, string>();
  const collectIds = (node: StateConfig, path: string[]): void => {
    if (node.id) byId.set(node.id, path.join('.'));
    for (const [key, child] of Object.entries(node.states ?? {})) collectIds(child, [...path, key]);
  };
  collectIds(root, []);
  const resolve = (target: string | string[] | undefined, path: string[]): string => {
    const t = Array.isArray(target) ? target[0] : target;
    if (t === undefined) return path.join('.');
    if (t.startsWith('#')) {
      const [id, ...rest] = t.slice(1).split('.');
      const base = byId.get(id);
      return [base, ...rest].filter((s) => s !== undefined && s !== '').join('.');
    }
    if (t.startsWith('.')) return [...path, t.slice(1)].join('.');
    return [...path.slice(0, -1), t].join('.');
  };
  const walk = (node: StateConfig, path: string[]): void => {
    for (const [event, spec] of Object.entries(node.on ?? {})) {
      for (const t of asList(spec)) rows.push({ source: path.join('.'), event, guard: names(t.guard)[0], actions: names(t.actions), target: resolve(t.target, path) });
    }
    for (const t of asList(node.always)) rows.push({ source: path.join('.'), event: '(always)', guard: names(t.guard)[0], actions: names(t.actions), target: resolve(t.target, path) });
    for (const [key, child] of Object.entries(node.states ?? {})) walk(child, [...path, key]);
  };
  walk(root, []);
  return rows;
}

/** A Mermaid stateDiagram-v2 of the machine. */
export function mermaid(machine: AnyStateMachine): string {
  const root = machine.config as StateConfig;
  const id = (path: string): string => path.replace(/[^A-Za-z0-9_]/g, '_');
  const out: string[] = ['stateDiagram-v2'];
  const declare = (node: StateConfig, path: string[], indent: string): void => {
    if (node.initial) out.push(`${indent}[*] --> ${id([...path, node.initial].join('.'))}`);
    for (const [key, child] of Object.entries(node.states ?? {})) {
      const p = [...path, key];
      if (child.states) {
        out.push(`${indent}state ${key} as ${id(p.join('.'))} {`);
        declare(child, p, `${indent}  `);
        out.push(`${indent}}`);
      } else {
        out.push(`${indent}state "${key}" as ${id(p.join('.'))}`);
      }
      if (child.type === 'final') out.push(`${indent}${id(p.join('.'))} --> [*]`);
    }
  };
  declare(root, [], '  ');
  const rows = transitions(machine);
  // transitions defined on the machine's root apply in every state
  if (rows.some((t) => t.source === '')) out.push('  state "(any state)" as any_state');
  for (const t of rows) {
    const label = [t.event, t.guard ? `[${t.guard}]` : '', t.actions.length ? `/ ${t.actions.join(', ')}` : ''].filter(Boolean).join(' ');
    out.push(`  ${t.source === '' ? 'any_state' : id(t.source)} --> ${id(t.target)}: ${label.replace(/:/g, ' ')}`);
  }
  return out.join('\n');
}

/** Named guards and actions of the machine, from its setup() implementations. */
export function implementations(machine: AnyStateMachine): { guards: string[]; actions: string[] } {
  const impl = machine.implementations as { guards: Record<string, unknown>; actions: Record<string, unknown> };
  return { guards: Object.keys(impl.guards).sort(), actions: Object.keys(impl.actions).sort() };
}
