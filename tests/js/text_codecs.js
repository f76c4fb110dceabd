// TextEncoder, TextDecoder (fatal, ignoreBOM, streaming), atob and btoa.
export default {
  fetch() {
    const out = [];
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
    const enc = new TextEncoder();
    out.push(`encoding: ${enc.encoding}`);
    out.push(`encode: ${hex(enc.encode("aé€😀"))}`);
    out.push(`lone surrogate: ${hex(enc.encode("\ud800"))}`);
    const into = new Uint8Array(5);
    out.push(`encodeInto: ${JSON.stringify(enc.encodeInto("a€😀", into))} ${hex(into)}`);
    const dec = new TextDecoder();
    out.push(`decode: ${dec.decode(new Uint8Array([0x68, 0xc3, 0xa9]))}`);
    out.push(`replacement: ${JSON.stringify(dec.decode(new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x82])))}`);
    out.push(`bom stripped: ${JSON.stringify(dec.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x78])))}`);
    out.push(`bom kept: ${JSON.stringify(new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x78])))}`);
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xc3]));
    } catch (e) {
      out.push(`fatal: ${e.name}: ${e.message}`);
    }
    const stream = new TextDecoder();
    const euro = [0xe2, 0x82, 0xac];
    const parts = [stream.decode(new Uint8Array(euro.slice(0, 1)), { stream: true }), stream.decode(new Uint8Array(euro.slice(1)), { stream: true }), stream.decode()];
    out.push(`streaming: ${JSON.stringify(parts)}`);
    out.push(`unfinished at end: ${JSON.stringify(new TextDecoder().decode(new Uint8Array([0xe2, 0x82])))}`);
    out.push(`dataview: ${dec.decode(new DataView(new Uint8Array([0x6f, 0x6b]).buffer))}`);
    try {
      new TextDecoder("latin1");
    } catch (e) {
      out.push(`label: ${e.name}`);
    }
    out.push(`btoa: ${btoa("hello")} ${btoa("\xff\xfe")} ${btoa("")}`);
    out.push(`atob: ${atob("aGVsbG8=")} ${JSON.stringify(atob(" aGV sbG8 "))} ${atob("YQ")}`);
    for (const bad of ["a", "a===", "@@@@"]) {
      try {
        atob(bad);
        out.push(`atob ${bad}: ok`);
      } catch (e) {
        out.push(`atob ${bad}: ${e.name}`);
      }
    }
    try {
      btoa("€");
    } catch (e) {
      out.push(`btoa non-latin1: ${e.name} ${e.code}`);
    }
    return new Response(out.join("\n"));
  },
};

/* expected
encoding: utf-8
encode: 61 c3 a9 e2 82 ac f0 9f 98 80
lone surrogate: ef bf bd
encodeInto: {"read":2,"written":4} 61 e2 82 ac 00
decode: hé
replacement: "a�b�"
bom stripped: "x"
bom kept: "﻿x"
fatal: TypeError: The encoded data was not valid UTF-8
streaming: ["","€",""]
unfinished at end: "�"
dataview: ok
label: RangeError
btoa: aGVsbG8= //4= 
atob: hello "hello" a
atob a: InvalidCharacterError
atob a===: InvalidCharacterError
atob @@@@: InvalidCharacterError
btoa non-latin1: InvalidCharacterError 5
*/
