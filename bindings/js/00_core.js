// islet's Web Platform layer, part 0: what every other part uses.
//
// Each file in this directory is a classic script whose value is a
// function `(ops, platform) => void`. The engine evaluates the files in
// name order in a fresh context and calls each with `ops`, the native host
// operations, and `platform`, an object the files share privately. Tenant
// code never sees either. After the last file, `platform.hooks` holds what
// the engine calls: see bindings/src/js.rs.
(function (ops, platform) {
  "use strict";

  // Installs a global the way Web IDL does: writable, configurable, not
  // enumerable.
  platform.define = (name, value) =>
    Object.defineProperty(globalThis, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });

  platform.hooks = {};

  // ---- DOMException --------------------------------------------------

  const LEGACY_CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4,
    InvalidCharacterError: 5, NoModificationAllowedError: 7, NotFoundError: 8,
    NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12,
    InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23,
    InvalidNodeTypeError: 24, DataCloneError: 25,
  };

  class DOMException extends Error {
    #name;
    constructor(message = "", name = "Error") {
      super(String(message));
      this.#name = String(name);
    }
    get name() {
      return this.#name;
    }
    get code() {
      return LEGACY_CODES[this.#name] ?? 0;
    }
  }
  for (const [name, code] of Object.entries(LEGACY_CODES)) {
    const constant = name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase().replace(/_ERROR$/, "_ERR");
    Object.defineProperty(DOMException, constant, { value: code, enumerable: true });
  }
  platform.define("DOMException", DOMException);

  // ---- console -------------------------------------------------------

  function inspect(value, seen = new Set()) {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack || String(value);
    if (typeof value === "function") return `[Function ${value.name || "anonymous"}]`;
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "symbol") return value.toString();
    if (value === null || typeof value !== "object") return String(value);
    if (seen.has(value)) return "[Circular]";
    seen.add(value);
    try {
      if (Array.isArray(value)) return `[${value.map((v) => inspectNested(v, seen)).join(", ")}]`;
      if (value instanceof Map) {
        return `Map(${value.size}) {${[...value].map(([k, v]) => ` ${inspectNested(k, seen)} => ${inspectNested(v, seen)}`).join(",")} }`;
      }
      if (value instanceof Set) {
        return `Set(${value.size}) {${[...value].map((v) => ` ${inspectNested(v, seen)}`).join(",")} }`;
      }
      const json = JSON.stringify(value);
      if (json !== undefined && json !== "{}") return json;
      const tag = value[Symbol.toStringTag] || value.constructor?.name;
      return tag && tag !== "Object" ? `${tag} {}` : json ?? String(value);
    } catch {
      return String(value);
    } finally {
      seen.delete(value);
    }
  }

  function inspectNested(value, seen) {
    return typeof value === "string" ? JSON.stringify(value) : inspect(value, seen);
  }

  function format(args) {
    return args.map((a) => inspect(a)).join(" ");
  }

  const console = {
    debug: (...args) => ops.log(0, format(args)),
    log: (...args) => ops.log(1, format(args)),
    info: (...args) => ops.log(1, format(args)),
    warn: (...args) => ops.log(2, format(args)),
    error: (...args) => ops.log(3, format(args)),
    trace: (...args) => ops.log(0, format(args) + "\n" + new Error().stack.split("\n").slice(2).join("\n")),
    assert: (condition, ...args) => {
      if (!condition) ops.log(3, "Assertion failed" + (args.length ? ": " + format(args) : ""));
    },
  };
  platform.define("console", console);
  platform.format = format;
})
