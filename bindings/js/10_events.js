// Event, EventTarget, AbortController and AbortSignal (DOM standard,
// without the parts that need a document tree).
(function (ops, platform) {
  "use strict";

  const STOP = Symbol("stop");
  const STOP_IMMEDIATE = Symbol("stopImmediate");

  class Event {
    #type;
    #bubbles;
    #cancelable;
    #composed;
    #defaultPrevented = false;
    #timeStamp = performance.now();
    #target = null;
    #currentTarget = null;
    #dispatching = false;

    constructor(type, init = {}) {
      if (arguments.length === 0) throw new TypeError("Event requires a type");
      this.#type = String(type);
      this.#bubbles = Boolean(init.bubbles);
      this.#cancelable = Boolean(init.cancelable);
      this.#composed = Boolean(init.composed);
      this[STOP] = false;
      this[STOP_IMMEDIATE] = false;
    }
    get type() { return this.#type; }
    get bubbles() { return this.#bubbles; }
    get cancelable() { return this.#cancelable; }
    get composed() { return this.#composed; }
    get defaultPrevented() { return this.#defaultPrevented; }
    get timeStamp() { return this.#timeStamp; }
    get target() { return this.#target; }
    get srcElement() { return this.#target; }
    get currentTarget() { return this.#currentTarget; }
    get eventPhase() { return this.#dispatching ? 2 : 0; }
    get isTrusted() { return false; }
    get returnValue() { return !this.#defaultPrevented; }
    composedPath() { return this.#dispatching && this.#target ? [this.#target] : []; }
    preventDefault() { if (this.#cancelable) this.#defaultPrevented = true; }
    stopPropagation() { this[STOP] = true; }
    stopImmediatePropagation() { this[STOP] = true; this[STOP_IMMEDIATE] = true; }

    static _begin(event, target) {
      if (event.#dispatching) throw new DOMException("the event is already being dispatched", "InvalidStateError");
      event.#dispatching = true;
      event.#target = target;
      event.#currentTarget = target;
    }
    static _end(event) {
      event.#dispatching = false;
      event.#currentTarget = null;
    }
  }
  for (const [name, value] of [["NONE", 0], ["CAPTURING_PHASE", 1], ["AT_TARGET", 2], ["BUBBLING_PHASE", 3]]) {
    Object.defineProperty(Event, name, { value, enumerable: true });
    Object.defineProperty(Event.prototype, name, { value, enumerable: true });
  }

  class EventTarget {
    #listeners = new Map(); // type -> [{ callback, once, capture, signal }]

    addEventListener(type, callback, options = {}) {
      if (callback === null || callback === undefined) return;
      if (typeof options === "boolean") options = { capture: options };
      const capture = Boolean(options.capture);
      const signal = options.signal;
      if (signal?.aborted) return;
      type = String(type);
      const list = this.#listeners.get(type) ?? [];
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      const listener = { callback, once: Boolean(options.once), capture, removed: false };
      list.push(listener);
      this.#listeners.set(type, list);
      signal?.addEventListener("abort", () => this.removeEventListener(type, callback, { capture }));
    }

    removeEventListener(type, callback, options = {}) {
      if (typeof options === "boolean") options = { capture: options };
      const capture = Boolean(options.capture);
      const list = this.#listeners.get(String(type));
      if (!list) return;
      const index = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (index >= 0) {
        list[index].removed = true;
        list.splice(index, 1);
      }
    }

    dispatchEvent(event) {
      if (!(event instanceof Event)) throw new TypeError("dispatchEvent expects an Event");
      Event._begin(event, this);
      try {
        const list = (this.#listeners.get(event.type) ?? []).slice();
        for (const listener of list) {
          if (listener.removed) continue;
          if (listener.once) this.removeEventListener(event.type, listener.callback, listener);
          try {
            if (typeof listener.callback === "function") listener.callback.call(this, event);
            else listener.callback.handleEvent(event);
          } catch (error) {
            reportError(error);
          }
          if (event[STOP_IMMEDIATE]) break;
        }
        // `onabort` and friends.
        const handler = this["on" + event.type];
        if (typeof handler === "function" && !event[STOP_IMMEDIATE]) {
          try { handler.call(this, event); } catch (error) { reportError(error); }
        }
      } finally {
        Event._end(event);
      }
      return !event.defaultPrevented;
    }
  }

  function reportError(error) {
    console.error("Uncaught (in event listener)", error);
  }
  platform.define("reportError", reportError);

  const SIGNAL = Symbol("signal");

  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    onabort = null;

    constructor(key) {
      if (key !== SIGNAL) throw new TypeError("Illegal constructor");
      super();
    }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }

    static _abort(signal, reason) {
      if (signal.#aborted) return;
      signal.#aborted = true;
      signal.#reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
      signal.dispatchEvent(new Event("abort"));
    }

    static abort(reason) {
      const signal = new AbortSignal(SIGNAL);
      AbortSignal._abort(signal, reason);
      return signal;
    }

    static timeout(ms) {
      const signal = new AbortSignal(SIGNAL);
      setTimeout(() => AbortSignal._abort(signal, new DOMException("The operation timed out", "TimeoutError")), ms);
      return signal;
    }

    static any(signals) {
      const signal = new AbortSignal(SIGNAL);
      for (const s of signals) {
        if (s.aborted) {
          AbortSignal._abort(signal, s.reason);
          return signal;
        }
      }
      for (const s of signals) s.addEventListener("abort", () => AbortSignal._abort(signal, s.reason), { once: true });
      return signal;
    }

    get [Symbol.toStringTag]() { return "AbortSignal"; }
  }

  class AbortController {
    #signal = new AbortSignal(SIGNAL);
    get signal() { return this.#signal; }
    abort(reason) { AbortSignal._abort(this.#signal, reason); }
    get [Symbol.toStringTag]() { return "AbortController"; }
  }

  platform.define("Event", Event);
  platform.define("EventTarget", EventTarget);
  platform.define("AbortSignal", AbortSignal);
  platform.define("AbortController", AbortController);
})
