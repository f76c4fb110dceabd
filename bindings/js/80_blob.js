// Blob, File and FormData, with the multipart/form-data codec the fetch
// layer uses for `formData()` and FormData bodies.
(function (ops, platform) {
  "use strict";

  const BYTES = Symbol("bytes");

  function partBytes(part) {
    if (part instanceof Blob) return part[BYTES];
    if (part instanceof ArrayBuffer) return new Uint8Array(part.slice(0));
    if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer.slice(part.byteOffset, part.byteOffset + part.byteLength));
    return ops.utf8Encode(String(part));
  }

  function concat(arrays) {
    const total = arrays.reduce((n, a) => n + a.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const a of arrays) {
      out.set(a, offset);
      offset += a.length;
    }
    return out;
  }
  platform.concatBytes = concat;

  class Blob {
    #type;
    constructor(parts = [], options = {}) {
      if (typeof parts !== "object" || parts === null || typeof parts[Symbol.iterator] !== "function") {
        throw new TypeError("Blob parts must be an iterable");
      }
      this[BYTES] = concat(Array.from(parts, partBytes));
      const type = String(options.type ?? "");
      this.#type = /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
    }
    get size() { return this[BYTES].length; }
    get type() { return this.#type; }
    slice(start = 0, end = this.size, type = "") {
      const clamp = (i) => (i < 0 ? Math.max(this.size + i, 0) : Math.min(i, this.size));
      const blob = new Blob([], { type });
      blob[BYTES] = this[BYTES].slice(clamp(start), Math.max(clamp(start), clamp(end)));
      return blob;
    }
    async arrayBuffer() { return this[BYTES].slice().buffer; }
    async bytes() { return this[BYTES].slice(); }
    async text() { return ops.utf8Decode(this[BYTES], false); }
    stream() {
      const bytes = this[BYTES];
      return new ReadableStream({
        start(controller) {
          if (bytes.length) controller.enqueue(bytes.slice());
          controller.close();
        },
      });
    }
    get [Symbol.toStringTag]() { return "Blob"; }
  }

  class File extends Blob {
    #name;
    #lastModified;
    constructor(bits, name, options = {}) {
      if (arguments.length < 2) throw new TypeError("File needs bits and a name");
      super(bits, options);
      this.#name = String(name);
      this.#lastModified = options.lastModified === undefined ? Date.now() : Number(options.lastModified);
    }
    get name() { return this.#name; }
    get lastModified() { return this.#lastModified; }
    get [Symbol.toStringTag]() { return "File"; }
  }

  function entryValue(value, filename) {
    if (value instanceof Blob) {
      if (!(value instanceof File) || filename !== undefined) {
        const file = new File([], filename ?? (value instanceof File ? value.name : "blob"), {
          type: value.type,
          lastModified: value instanceof File ? value.lastModified : undefined,
        });
        file[BYTES] = value[BYTES];
        return file;
      }
      return value;
    }
    return String(value).toWellFormed();
  }

  class FormData {
    #entries = [];
    constructor(form = undefined) {
      if (form !== undefined) throw new TypeError("FormData from a form element is not supported");
    }
    append(name, value, filename = undefined) {
      this.#entries.push([String(name), entryValue(value, filename)]);
    }
    set(name, value, filename = undefined) {
      name = String(name);
      const entry = [name, entryValue(value, filename)];
      const index = this.#entries.findIndex(([k]) => k === name);
      if (index < 0) this.#entries.push(entry);
      else this.#entries = this.#entries.filter(([k], i) => k !== name || i === index).map((e) => (e[0] === name ? entry : e));
    }
    get(name) {
      const found = this.#entries.find(([k]) => k === String(name));
      return found ? found[1] : null;
    }
    getAll(name) { return this.#entries.filter(([k]) => k === String(name)).map(([, v]) => v); }
    has(name) { return this.#entries.some(([k]) => k === String(name)); }
    delete(name) { this.#entries = this.#entries.filter(([k]) => k !== String(name)); }
    forEach(callback, thisArg = undefined) {
      for (const [k, v] of this.#entries) callback.call(thisArg, v, k, this);
    }
    *entries() { for (const [k, v] of this.#entries) yield [k, v]; }
    *keys() { for (const [k] of this.#entries) yield k; }
    *values() { for (const [, v] of this.#entries) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return "FormData"; }
  }

  // ---- multipart/form-data ---------------------------------------------

  const escapeName = (s) => s.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");

  // Encodes a FormData; returns [bytes, contentType].
  function encodeMultipart(form) {
    const boundary = "----islet" + Array.from(ops.randomFill(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    const parts = [];
    for (const [name, value] of form) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
      if (value instanceof File) {
        head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}`;
        parts.push(ops.utf8Encode(head + "\r\n\r\n"), value[BYTES], ops.utf8Encode("\r\n"));
      } else {
        parts.push(ops.utf8Encode(head + "\r\n\r\n" + value.replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n") + "\r\n"));
      }
    }
    parts.push(ops.utf8Encode(`--${boundary}--\r\n`));
    return [concat(parts), `multipart/form-data; boundary=${boundary}`];
  }

  function indexOf(haystack, needle, from) {
    outer: for (let i = from; i <= haystack.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) {
        if (haystack[i + j] !== needle[j]) continue outer;
      }
      return i;
    }
    return -1;
  }

  function headerParam(header, param) {
    const match = new RegExp(`;\\s*${param}\\*?=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i").exec(header);
    return match ? (match[1] ?? match[2]).replace(/\\(.)/g, "$1") : null;
  }

  function decodeMultipart(bytes, contentType) {
    const boundary = headerParam(contentType, "boundary");
    if (!boundary) throw new TypeError("the multipart body has no boundary");
    const delimiter = ops.utf8Encode(`--${boundary}`);
    const form = new FormData();
    let at = indexOf(bytes, delimiter, 0);
    if (at < 0) throw new TypeError("the multipart body has no parts");
    for (;;) {
      at += delimiter.length;
      if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return form; // closing "--"
      if (bytes[at] === 0x0d && bytes[at + 1] === 0x0a) at += 2;
      const headEnd = indexOf(bytes, ops.utf8Encode("\r\n\r\n"), at);
      if (headEnd < 0) throw new TypeError("a multipart part has no end of headers");
      const head = ops.utf8Decode(bytes.subarray(at, headEnd), false);
      const next = indexOf(bytes, ops.utf8Encode(`\r\n--${boundary}`), headEnd + 4);
      if (next < 0) throw new TypeError("a multipart part is not terminated");
      const content = bytes.slice(headEnd + 4, next);
      const headers = new Map();
      for (const line of head.split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const disposition = headers.get("content-disposition") ?? "";
      const name = headerParam(disposition, "name");
      if (name === null) throw new TypeError("a multipart part has no name");
      const filename = headerParam(disposition, "filename");
      if (filename !== null) {
        form.append(name, new File([content], filename, { type: headers.get("content-type") ?? "" }));
      } else {
        form.append(name, ops.utf8Decode(content, false));
      }
      at = next + 2;
    }
  }

  platform.encodeMultipart = encodeMultipart;
  platform.decodeMultipart = decodeMultipart;
  platform.blobBytes = (blob) => blob[BYTES];
  platform.cloneHooks.set(Blob, (blob) => blob.slice(0, blob.size, blob.type));
  platform.cloneHooks.set(File, (file) => new File([file], file.name, { type: file.type, lastModified: file.lastModified }));

  platform.define("Blob", Blob);
  platform.define("File", File);
  platform.define("FormData", FormData);
})
