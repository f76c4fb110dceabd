// URLSearchParams: parsing, serialising and the list operations.
export default {
  fetch() {
    const out = [];
    const p = new URLSearchParams("?a=1&b=2&a=3&c=%20x+y&d&=e&%zz=%41");
    out.push(`entries: ${JSON.stringify([...p])}`);
    out.push(`get a: ${p.get("a")}, getAll a: ${p.getAll("a")}, missing: ${p.get("nope")}`);
    out.push(`has: ${p.has("d")} ${p.has("a", "3")} ${p.has("a", "4")} size ${p.size}`);
    p.set("a", "only");
    p.delete("b");
    p.append("ü", "ä & = +");
    out.push(`after edits: ${p}`);
    const s = new URLSearchParams([["z", "1"], ["a", "2"], ["z", "0"]]);
    s.sort();
    out.push(`sorted: ${s}`);
    out.push(`from record: ${new URLSearchParams({ x: 1, y: "two" })}`);
    out.push(`from params: ${new URLSearchParams(s)}`);
    out.push(`unpaired surrogate: ${new URLSearchParams({ k: "\ud800" })}`);
    const keys = [];
    s.forEach((v, k) => keys.push(`${k}=${v}`));
    out.push(`forEach: ${keys}`);
    try {
      new URLSearchParams([["a"]]);
    } catch (e) {
      out.push(`bad pair: ${e.name}`);
    }
    return new Response(out.join("\n"));
  },
};

/* expected
entries: [["a","1"],["b","2"],["a","3"],["c"," x y"],["d",""],["","e"],["%zz","A"]]
get a: 1, getAll a: 1,3, missing: null
has: true true false size 7
after edits: a=only&c=+x+y&d=&=e&%25zz=A&%C3%BC=%C3%A4+%26+%3D+%2B
sorted: a=2&z=1&z=0
from record: x=1&y=two
from params: a=2&z=1&z=0
unpaired surrogate: k=%EF%BF%BD
forEach: a=2,z=1,z=0
bad pair: TypeError
*/
