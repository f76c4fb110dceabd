// No code from strings: eval, new Function and string timers are refused.
export default {
  async fetch() {
    const out = [];
    const attempt = (label, f) => {
      try {
        out.push(`${label}: ran ${f()}`);
      } catch (e) {
        out.push(`${label}: ${e.name}`);
      }
    };
    attempt("eval", () => eval("1 + 1"));
    attempt("indirect eval", () => (0, eval)("1 + 1"));
    attempt("new Function", () => new Function("return 1")());
    attempt("async function ctor", () => new (async function () {}).constructor("return 1"));
    attempt("setTimeout string", () => setTimeout("1 + 1", 0));
    attempt("ordinary code", () => [1, 2, 3].map((x) => x * 2).join(""));
    // The smallest valid module: wasm compiled at run time is refused too.
    const module = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    attempt("new WebAssembly.Module", () => new WebAssembly.Module(module));
    try {
      await WebAssembly.compile(module);
      out.push("WebAssembly.compile: ran");
    } catch (e) {
      out.push(`WebAssembly.compile: ${e.name}`);
    }
    return new Response(out.join("\n"));
  },
};

/* expected
eval: EvalError
indirect eval: EvalError
new Function: EvalError
async function ctor: EvalError
setTimeout string: TypeError
ordinary code: ran 246
new WebAssembly.Module: CompileError
WebAssembly.compile: CompileError
*/
