// URL and URLSearchParams (WHATWG URL). Parsing and the setters are the
// host's (the `url` crate); the form-urlencoded rules are here.
(function (ops, platform) {
  "use strict";

  // Indexes into the array ops.urlParse / ops.urlSet return.
  const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5,
    HOSTNAME = 6, PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;

  // ---- application/x-www-form-urlencoded -----------------------------

  function percentDecode(text) {
    const bytes = [];
    const encoded = ops.utf8Encode(text);
    for (let i = 0; i < encoded.length; i++) {
      const b = encoded[i];
      if (b === 0x25 && i + 2 < encoded.length && isHex(encoded[i + 1]) && isHex(encoded[i + 2])) {
        bytes.push(parseInt(String.fromCharCode(encoded[i + 1], encoded[i + 2]), 16));
        i += 2;
      } else {
        bytes.push(b);
      }
    }
    return ops.utf8Decode(new Uint8Array(bytes), false);
  }

  function isHex(b) {
    return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  }

  function parseForm(text) {
    const list = [];
    for (const piece of text.split("&")) {
      if (piece === "") continue;
      const eq = piece.indexOf("=");
      const name = eq >= 0 ? piece.slice(0, eq) : piece;
      const value = eq >= 0 ? piece.slice(eq + 1) : "";
      list.push([percentDecode(name.replace(/\+/g, " ")), percentDecode(value.replace(/\+/g, " "))]);
    }
    return list;
  }

  function serializeComponent(text) {
    let out = "";
    for (const b of ops.utf8Encode(text)) {
      if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f) {
        out += String.fromCharCode(b);
      } else if (b === 0x20) {
        out += "+";
      } else {
        out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
      }
    }
    return out;
  }

  function serializeForm(list) {
    return list.map(([k, v]) => serializeComponent(k) + "=" + serializeComponent(v)).join("&");
  }
  platform.serializeForm = serializeForm;
  platform.parseForm = parseForm;

  // Scalar value strings: lone surrogates become U+FFFD.
  const usv = (value) => String(value).toWellFormed();

  class URLSearchParams {
    #list = [];
    #url = null; // the URL this belongs to, if any

    constructor(init = "") {
      if (init instanceof URLSearchParams) {
        this.#list = init.#list.map(([k, v]) => [k, v]);
      } else if (init !== null && typeof init === "object" && typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError("each pair needs a name and a value");
          this.#list.push([usv(p[0]), usv(p[1])]);
        }
      } else if (init !== null && typeof init === "object") {
        for (const key of Reflect.ownKeys(init)) {
          if (typeof key === "string" && Object.prototype.propertyIsEnumerable.call(init, key)) {
            this.#list.push([usv(key), usv(init[key])]);
          }
        }
      } else {
        const text = usv(init);
        this.#list = parseForm(text.startsWith("?") ? text.slice(1) : text);
      }
    }

    static _forUrl(url, query) {
      const params = new URLSearchParams(query);
      params.#url = url;
      return params;
    }

    static _reset(params, query) {
      params.#list = parseForm(query.startsWith("?") ? query.slice(1) : query);
    }

    #update() {
      if (this.#url) URL._setQuery(this.#url, serializeForm(this.#list));
    }

    get size() { return this.#list.length; }

    append(name, value) {
      this.#list.push([usv(name), usv(value)]);
      this.#update();
    }

    delete(name, value = undefined) {
      name = usv(name);
      const v = value === undefined ? undefined : usv(value);
      this.#list = this.#list.filter(([k, x]) => !(k === name && (v === undefined || x === v)));
      this.#update();
    }

    get(name) {
      name = usv(name);
      const found = this.#list.find(([k]) => k === name);
      return found ? found[1] : null;
    }

    getAll(name) {
      name = usv(name);
      return this.#list.filter(([k]) => k === name).map(([, v]) => v);
    }

    has(name, value = undefined) {
      name = usv(name);
      const v = value === undefined ? undefined : usv(value);
      return this.#list.some(([k, x]) => k === name && (v === undefined || x === v));
    }

    set(name, value) {
      name = usv(name);
      value = usv(value);
      const index = this.#list.findIndex(([k]) => k === name);
      if (index < 0) {
        this.#list.push([name, value]);
      } else {
        this.#list[index][1] = value;
        this.#list = this.#list.filter(([k], i) => k !== name || i === index);
      }
      this.#update();
    }

    sort() {
      // Stable, by UTF-16 code units.
      this.#list = this.#list
        .map((pair, i) => [pair, i])
        .sort(([[a], i], [[b], j]) => (a < b ? -1 : a > b ? 1 : i - j))
        .map(([pair]) => pair);
      this.#update();
    }

    forEach(callback, thisArg = undefined) {
      for (const [k, v] of this.#list) callback.call(thisArg, v, k, this);
    }

    *entries() { for (const [k, v] of this.#list) yield [k, v]; }
    *keys() { for (const [k] of this.#list) yield k; }
    *values() { for (const [, v] of this.#list) yield v; }
    [Symbol.iterator]() { return this.entries(); }

    toString() {
      return serializeForm(this.#list);
    }

    get [Symbol.toStringTag]() { return "URLSearchParams"; }
  }

  class URL {
    #parts;
    #searchParams = null;

    constructor(url, base = undefined) {
      const parts = ops.urlParse(usv(url), base === undefined ? undefined : usv(base));
      if (parts === null) {
        const where = base === undefined ? "" : ` against base ${JSON.stringify(String(base))}`;
        throw new TypeError(`Invalid URL: ${JSON.stringify(String(url))}${where}`);
      }
      this.#parts = parts;
    }

    static canParse(url, base = undefined) {
      return ops.urlParse(usv(url), base === undefined ? undefined : usv(base)) !== null;
    }

    static parse(url, base = undefined) {
      try {
        return new URL(url, base);
      } catch {
        return null;
      }
    }

    static _setQuery(url, query) {
      const parts = ops.urlSet(url.#parts[HREF], "search", query);
      if (parts) url.#parts = parts;
    }

    #set(component, value) {
      const parts = ops.urlSet(this.#parts[HREF], component, usv(value));
      if (parts) this.#parts = parts;
      return parts;
    }

    get href() { return this.#parts[HREF]; }
    set href(value) {
      const parts = ops.urlParse(usv(value), undefined);
      if (parts === null) throw new TypeError(`Invalid URL: ${JSON.stringify(String(value))}`);
      this.#parts = parts;
      if (this.#searchParams) URLSearchParams._reset(this.#searchParams, this.#parts[SEARCH]);
    }
    get origin() { return this.#parts[ORIGIN]; }
    get protocol() { return this.#parts[PROTOCOL]; }
    set protocol(v) { this.#set("protocol", v); }
    get username() { return this.#parts[USERNAME]; }
    set username(v) { this.#set("username", v); }
    get password() { return this.#parts[PASSWORD]; }
    set password(v) { this.#set("password", v); }
    get host() { return this.#parts[HOST]; }
    set host(v) { this.#set("host", v); }
    get hostname() { return this.#parts[HOSTNAME]; }
    set hostname(v) { this.#set("hostname", v); }
    get port() { return this.#parts[PORT]; }
    set port(v) { this.#set("port", v); }
    get pathname() { return this.#parts[PATHNAME]; }
    set pathname(v) { this.#set("pathname", v); }
    get search() { return this.#parts[SEARCH]; }
    set search(v) {
      this.#set("search", v);
      if (this.#searchParams) URLSearchParams._reset(this.#searchParams, this.#parts[SEARCH]);
    }
    get searchParams() {
      this.#searchParams ??= URLSearchParams._forUrl(this, this.#parts[SEARCH]);
      return this.#searchParams;
    }
    get hash() { return this.#parts[HASH]; }
    set hash(v) { this.#set("hash", v); }

    toString() { return this.href; }
    toJSON() { return this.href; }
    get [Symbol.toStringTag]() { return "URL"; }
  }

  platform.define("URL", URL);
  platform.define("URLSearchParams", URLSearchParams);
})
