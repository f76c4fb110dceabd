// structuredClone: types, cycles and refusals.
export default {
  fetch() {
    const out = [];
    const original = {
      n: 1, s: "x", big: 10n, date: new Date(0), re: /a+/gi,
      map: new Map([[1, { deep: true }]]), set: new Set([1, 2]),
      bytes: new Uint8Array([1, 2, 3]), nested: [1, [2, [3]]],
      error: new RangeError("bad range"),
    };
    original.self = original;
    const copy = structuredClone(original);
    out.push(`distinct: ${copy !== original} ${copy.map !== original.map}`);
    out.push(`cycle: ${copy.self === copy}`);
    out.push(`values: ${copy.n} ${copy.s} ${copy.big} ${copy.date.toISOString()} ${copy.re} ${copy.map.get(1).deep} ${[...copy.set]} ${copy.bytes} ${JSON.stringify(copy.nested)}`);
    out.push(`error: ${copy.error instanceof RangeError} ${copy.error.message}`);
    class Point { constructor() { this.x = 1; } }
    const p = structuredClone(new Point());
    out.push(`class instance: ${p instanceof Point} ${JSON.stringify(p)}`);
    for (const [label, value] of [["function", () => 1], ["symbol", Symbol("s")], ["headers", new Headers()]]) {
      try {
        structuredClone(value);
        out.push(`${label}: cloned`);
      } catch (e) {
        out.push(`${label}: ${e.name}`);
      }
    }
    return new Response(out.join("\n"));
  },
};

/* expected
distinct: true true
cycle: true
values: 1 x 10 1970-01-01T00:00:00.000Z /a+/gi true 1,2 1,2,3 [1,[2,[3]]]
error: true bad range
class instance: false {"x":1}
function: DataCloneError
symbol: DataCloneError
headers: DataCloneError
*/
