// setTimeout, setInterval, clearTimeout and queueMicrotask ordering.
export default {
  async fetch() {
    const order = [];
    await new Promise((resolve) => {
      setTimeout(() => order.push("timeout 20"), 20);
      setTimeout((a, b) => order.push(`timeout 0 args ${a}${b}`), 0, "x", "y");
      const cancelled = setTimeout(() => order.push("cancelled"), 5);
      clearTimeout(cancelled);
      let ticks = 0;
      const interval = setInterval(() => {
        order.push(`interval ${++ticks}`);
        if (ticks === 3) {
          clearInterval(interval);
          setTimeout(resolve, 30);
        }
      }, 1);
      queueMicrotask(() => order.push("microtask"));
      Promise.resolve().then(() => order.push("promise"));
      order.push("sync");
    });
    return new Response(order.join("\n"));
  },
};

/* expected
sync
microtask
promise
timeout 0 args xy
interval 1
interval 2
interval 3
timeout 20
*/
