// structuredClone: the HTML structured clone algorithm for the types a
// worker can hold (no transfer of ownership).
(function (ops, platform) {
  "use strict";

  const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

  function fail(what) {
    throw new DOMException(`${what} could not be cloned.`, "DataCloneError");
  }

  function clone(value, memory) {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) {
      if (typeof value === "symbol") fail("Symbol()");
      return value;
    }
    if (typeof value === "function") fail(value.toString().slice(0, 40));
    if (memory.has(value)) return memory.get(value);

    const remember = (copy) => {
      memory.set(value, copy);
      return copy;
    };
    const tag = Object.prototype.toString.call(value).slice(8, -1);
    switch (tag) {
      case "Boolean": return remember(Object(Boolean.prototype.valueOf.call(value)));
      case "Number": return remember(Object(Number.prototype.valueOf.call(value)));
      case "String": return remember(Object(String.prototype.valueOf.call(value)));
      case "BigInt": return remember(Object(BigInt.prototype.valueOf.call(value)));
      case "Date": return remember(new Date(Date.prototype.getTime.call(value)));
      case "RegExp": return remember(new RegExp(value.source, value.flags));
      case "ArrayBuffer": {
        if (value.detached) fail("A detached ArrayBuffer");
        return remember(value.slice(0));
      }
      case "DataView": {
        const buffer = clone(value.buffer, memory);
        return remember(new DataView(buffer, value.byteOffset, value.byteLength));
      }
      case "Map": {
        const copy = remember(new Map());
        for (const [k, v] of value) copy.set(clone(k, memory), clone(v, memory));
        return copy;
      }
      case "Set": {
        const copy = remember(new Set());
        for (const v of value) copy.add(clone(v, memory));
        return copy;
      }
      case "Array": {
        const copy = remember(new Array(value.length));
        for (const key of Object.keys(value)) copy[key] = clone(value[key], memory);
        return copy;
      }
      case "Error": {
        const Ctor = ERRORS[value.name] ?? Error;
        const copy = remember(Object.create(Ctor.prototype));
        for (const key of ["message", "stack", "cause"]) {
          if (Object.prototype.hasOwnProperty.call(value, key)) {
            Object.defineProperty(copy, key, { value: clone(value[key], memory), writable: true, configurable: true });
          }
        }
        return copy;
      }
      case "Object":
        break;
      default:
        if (ArrayBuffer.isView(value)) {
          const buffer = clone(value.buffer, memory);
          const Ctor = value.constructor;
          return remember(new Ctor(buffer, value.byteOffset, value.length));
        }
        if (value instanceof DOMException) {
          return remember(new DOMException(value.message, value.name));
        }
        if (platform.cloneHooks?.has(value.constructor)) {
          return remember(platform.cloneHooks.get(value.constructor)(value, (v) => clone(v, memory)));
        }
        // Platform objects (Request, Headers, ...) carry their own tag.
        fail(`An object of class ${tag}`);
    }
    const copy = remember({});
    for (const key of Object.keys(value)) copy[key] = clone(value[key], memory);
    return copy;
  }

  platform.cloneHooks = new Map();
  platform.define("structuredClone", function structuredClone(value, options = undefined) {
    if (arguments.length === 0) throw new TypeError("structuredClone requires a value");
    if (options?.transfer?.length) {
      throw new DOMException("transferring objects is not supported", "DataCloneError");
    }
    return clone(value, new Map());
  });
})
