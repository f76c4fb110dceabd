// Event, EventTarget, AbortController, AbortSignal.
export default {
  async fetch() {
    const out = [];
    const target = new EventTarget();
    const seen = [];
    const listener = (e) => seen.push(`${e.type}:${e.target === target}`);
    target.addEventListener("ping", listener);
    target.addEventListener("ping", listener); // duplicates are ignored
    target.addEventListener("ping", () => seen.push("once"), { once: true });
    target.addEventListener("ping", { handleEvent: (e) => seen.push("object") });
    target.dispatchEvent(new Event("ping"));
    target.dispatchEvent(new Event("ping"));
    target.removeEventListener("ping", listener);
    target.dispatchEvent(new Event("ping"));
    out.push(`listeners: ${seen.join(",")}`);

    const cancelable = new Event("c", { cancelable: true });
    target.addEventListener("c", (e) => e.preventDefault());
    out.push(`preventDefault: ${target.dispatchEvent(cancelable)} ${cancelable.defaultPrevented}`);

    const controller = new AbortController();
    const order = [];
    controller.signal.addEventListener("abort", () => order.push("listener"));
    controller.signal.onabort = () => order.push("onabort");
    controller.abort();
    controller.abort("again is ignored");
    out.push(`abort: ${controller.signal.aborted} ${controller.signal.reason.name} ${order}`);
    try {
      controller.signal.throwIfAborted();
    } catch (e) {
      out.push(`throwIfAborted: ${e.name} ${e instanceof DOMException} ${e.code}`);
    }
    out.push(`abort(reason): ${AbortSignal.abort("why").reason}`);
    const timeout = AbortSignal.timeout(10);
    await new Promise((resolve) => timeout.addEventListener("abort", resolve));
    out.push(`timeout: ${timeout.reason.name}`);
    const any = AbortSignal.any([new AbortController().signal, AbortSignal.abort("first")]);
    out.push(`any: ${any.aborted} ${any.reason}`);
    try {
      new AbortSignal();
    } catch (e) {
      out.push(`constructor: ${e.name}`);
    }
    return new Response(out.join("\n"));
  },
};

/* expected
listeners: ping:true,once,object,ping:true,object,object
preventDefault: false true
abort: true AbortError listener,onabort
throwIfAborted: AbortError true 20
abort(reason): why
timeout: TimeoutError
any: true first
constructor: TypeError
*/
