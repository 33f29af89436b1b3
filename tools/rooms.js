#!/usr/bin/env node
/**
 * The rooms of src/ at a glance: per room its files and lines, and which rooms it imports from.
 *
 *   node tools/rooms.js            # table of rooms, then the imports between them
 *   node tools/rooms.js --json     # the same as JSON
 *
 * A room is a directory under src/ (`td/`, `store/`, …) or a top-level file (`servient.ts` is the
 * room `servient`). Imports are read with a regular expression from the TypeScript sources (import,
 * export … from, require of a relative path); `import type` and `export type` count as type-only.
 * No dependencies: run it before and after moving code to see what moved.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const SRC = path.join(__dirname, "..", "src");

function filesUnder(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.name.endsWith(".ts")) out.push(full);
  }
  return out.sort();
}

/** `td/` for src/td/…, `servient` for src/servient.ts. */
function roomOf(file) {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? `${rel[0]}/` : rel[0].replace(/\.ts$/, "");
}

/** Relative import specifiers of a source text, each with whether it is type-only. */
function importsOf(text) {
  const found = [];
  const statement = /^\s*(import|export)\s+(type\s+)?([\s\S]*?)\s*from\s*["']([^"']+)["']/gm;
  for (const m of text.matchAll(statement)) {
    const braces = /^\{([\s\S]*)\}$/.exec(m[3].trim());
    const allTypes =
      braces !== null &&
      braces[1]
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .every((s) => s.startsWith("type "));
    found.push({ spec: m[4], typeOnly: m[2] !== undefined || allTypes });
  }
  for (const m of text.matchAll(/^\s*import\s*["']([^"']+)["']/gm))
    found.push({ spec: m[1], typeOnly: false });
  for (const m of text.matchAll(/\brequire\(\s*["'](\.[^"']+)["']\s*\)/g))
    found.push({ spec: m[1], typeOnly: false });
  return found.filter((i) => i.spec.startsWith("."));
}

function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts"), base])
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  return undefined;
}

function survey() {
  const rooms = new Map();
  const room = (name) => {
    if (!rooms.has(name)) rooms.set(name, { room: name, files: 0, lines: 0, imports: new Map() });
    return rooms.get(name);
  };
  for (const file of filesUnder(SRC)) {
    const text = fs.readFileSync(file, "utf8");
    const r = room(roomOf(file));
    r.files += 1;
    r.lines += text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    for (const { spec, typeOnly } of importsOf(text)) {
      const target = resolve(file, spec);
      if (target === undefined || !target.startsWith(SRC)) continue;
      const to = roomOf(target);
      if (to === r.room) continue;
      const edge = r.imports.get(to) ?? { values: 0, types: 0 };
      edge[typeOnly ? "types" : "values"] += 1;
      r.imports.set(to, edge);
    }
  }
  return [...rooms.values()].sort((a, b) => a.room.localeCompare(b.room));
}

/** Rooms that import each other, directly or around a loop (strongly connected, more than one). */
function roomCycles(rooms) {
  const graph = new Map(rooms.map((r) => [r.room, [...r.imports.keys()]]));
  let index = 0;
  const stack = [];
  const meta = new Map();
  const cycles = [];
  const visit = (v) => {
    meta.set(v, { index, low: index, onStack: true });
    index += 1;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!meta.has(w)) {
        visit(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).onStack) meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
    }
    if (meta.get(v).low === meta.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!meta.has(v)) visit(v);
  return cycles;
}

function main() {
  const rooms = survey();
  const cycles = roomCycles(rooms);
  if (process.argv.includes("--json")) {
    const json = rooms.map((r) => ({ ...r, imports: Object.fromEntries(r.imports) }));
    console.log(JSON.stringify({ rooms: json, cycles }, null, 2));
    return;
  }
  const width = Math.max(...rooms.map((r) => r.room.length), 4);
  console.log(`${"room".padEnd(width)}  files  lines  imports from (value imports + type-only imports)`);
  for (const r of rooms) {
    const edges = [...r.imports.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([to, e]) => `${to} ${e.values}${e.types ? `+${e.types}t` : ""}`)
      .join(", ");
    console.log(
      `${r.room.padEnd(width)}  ${String(r.files).padStart(5)}  ${String(r.lines).padStart(5)}  ${edges || "-"}`,
    );
  }
  const total = rooms.reduce((sum, r) => ({ files: sum.files + r.files, lines: sum.lines + r.lines }), {
    files: 0,
    lines: 0,
  });
  console.log(
    `${"total".padEnd(width)}  ${String(total.files).padStart(5)}  ${String(total.lines).padStart(5)}`,
  );
  console.log(
    cycles.length === 0
      ? "rooms that import each other: none"
      : `rooms that import each other: ${cycles.map((c) => c.join(" ⇄ ")).join("; ")}`,
  );
}

main();
