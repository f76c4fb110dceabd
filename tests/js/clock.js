// Clocks stand still while tenant code runs, and move between events.
export default {
  async fetch() {
    const out = [];
    const start = Date.now();
    const perf = performance.now();
    let x = 0;
    for (let i = 0; i < 5e6; i++) x += i;
    out.push(`frozen during work: ${Date.now() === start} ${performance.now() === perf} ${new Date().getTime() === start}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    out.push(`moved after a timer: ${Date.now() - start >= 20} ${performance.now() > perf}`);
    out.push(`Date still works: ${new Date(0).toISOString()} ${Date.UTC(2000, 0, 1)} ${typeof Date()} ${new Date() instanceof Date}`);
    out.push(`no SharedArrayBuffer: ${typeof SharedArrayBuffer}`);
    return new Response(out.join("\n"));
  },
};

/* expected
frozen during work: true true true
moved after a timer: true true
Date still works: 1970-01-01T00:00:00.000Z 946684800000 string true
no SharedArrayBuffer: undefined
*/
