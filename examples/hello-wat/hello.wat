;; A WebAssembly tenant written by hand against the islet ABI
;; (bindings/ABI.md): it answers "Hello from WebAssembly!" and, when the
;; tenant has a `GREETING` var, uses that instead of "Hello".
(module
  (import "islet" "response_add_header" (func $add_header (param i32 i32 i32 i32) (result i32)))
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (import "islet" "env_get" (func $env_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (data (i32.const 0) "content-type")
  (data (i32.const 16) "text/plain; charset=utf-8")
  (data (i32.const 48) "GREETING")
  (data (i32.const 64) "Hello")
  (data (i32.const 80) " from WebAssembly!\n")

  (func (export "islet_handle")
    (local $len i32)
    (drop (call $add_header (i32.const 0) (i32.const 12) (i32.const 16) (i32.const 25)))
    ;; Read `GREETING` into a 1 KiB buffer at 1024; fall back to "Hello".
    (local.set $len (call $env_get (i32.const 48) (i32.const 8) (i32.const 1024) (i32.const 1024)))
    (if (i32.and (i32.ge_s (local.get $len) (i32.const 0)) (i32.le_s (local.get $len) (i32.const 1024)))
      (then (drop (call $write (i32.const 1024) (local.get $len))))
      (else (drop (call $write (i32.const 64) (i32.const 5)))))
    (drop (call $write (i32.const 80) (i32.const 19)))))
