// Timers. The host arms a timer for the request whose code is running and
// delivers it back to that request when it fires; see hooks.fireTimer.
(function (ops, platform) {
  "use strict";

  const timers = new Map(); // id -> { callback, args, interval, ms }

  function startTimer(callback, ms, args, interval) {
    if (typeof callback !== "function") {
      // A string would be code: islet runs no code from strings.
      throw new TypeError("the timer callback must be a function");
    }
    const delay = Math.max(0, Number(ms) || 0);
    const id = ops.timerStart(delay);
    timers.set(id, { callback, args, interval, ms: delay });
    return id;
  }

  function clearTimer(id) {
    if (timers.delete(id)) ops.timerCancel(id);
  }

  platform.define("setTimeout", (callback, ms = 0, ...args) => startTimer(callback, ms, args, false));
  platform.define("setInterval", (callback, ms = 0, ...args) => startTimer(callback, ms, args, true));
  platform.define("clearTimeout", (id) => clearTimer(id));
  platform.define("clearInterval", (id) => clearTimer(id));

  if (typeof globalThis.queueMicrotask !== "function") {
    platform.define("queueMicrotask", (callback) => {
      if (typeof callback !== "function") throw new TypeError("callback must be a function");
      Promise.resolve().then(callback);
    });
  }

  // Runs timer `id`'s callback; the host calls this when it fires.
  platform.hooks.fireTimer = (id) => {
    const timer = timers.get(id);
    if (!timer) return;
    if (timer.interval) ops.timerStart(timer.ms, id);
    else timers.delete(id);
    timer.callback(...timer.args);
  };
})
