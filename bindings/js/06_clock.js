// Clocks that do not advance while tenant code runs: `Date.now()`,
// `new Date()` and `performance.now()` read the time the host captured
// when the current slice began (a request arriving, a timer firing), so
// a tenant cannot time its own code (a Spectre mitigation).
(function (ops, platform) {
  "use strict";

  const OriginalDate = Date;
  // Set per context by the engine (a snapshot is made long before).
  let origin = 0;
  platform.hooks.initContext = () => {
    origin = ops.now();
  };

  function FrozenDate(...args) {
    if (!new.target) return new OriginalDate(ops.now()).toString();
    if (args.length === 0) return Reflect.construct(OriginalDate, [ops.now()], new.target);
    return Reflect.construct(OriginalDate, args, new.target);
  }
  Object.setPrototypeOf(FrozenDate, OriginalDate);
  FrozenDate.prototype = OriginalDate.prototype;
  Object.defineProperty(OriginalDate.prototype, "constructor", {
    value: FrozenDate,
    writable: true,
    configurable: true,
  });
  Object.defineProperty(FrozenDate, "now", {
    value: function now() {
      return ops.now();
    },
    writable: true,
    configurable: true,
  });
  Object.defineProperty(FrozenDate, "name", { value: "Date" });
  Object.defineProperty(FrozenDate, "length", { value: 7 });
  platform.define("Date", FrozenDate);

  class Performance {
    get timeOrigin() {
      return origin;
    }
    now() {
      return ops.now() - origin;
    }
    toJSON() {
      return { timeOrigin: origin };
    }
    get [Symbol.toStringTag]() {
      return "Performance";
    }
  }
  platform.define("performance", new Performance());
})
