;; Echoes the request back: the method and URL on the first line, then
;; the headers, a blank line, and the body, streamed in 4 KiB pieces.
(module
  (import "islet" "request_method" (func $method (param i32 i32) (result i32)))
  (import "islet" "request_url" (func $url (param i32 i32) (result i32)))
  (import "islet" "request_headers" (func $headers (param i32 i32) (result i32)))
  (import "islet" "request_body_read" (func $body_read (param i32 i32) (result i32)))
  (import "islet" "response_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 2)

  (data (i32.const 0) " ")
  (data (i32.const 1) "\n")

  ;; Scratch space from 1024: 64 KiB for the head, a 4 KiB body buffer.
  (func $write_value (param $len i32)
    (drop (call $write (i32.const 1024)
      (select (local.get $len) (i32.const 65536)
        (i32.le_u (local.get $len) (i32.const 65536))))))

  (func (export "islet_handle")
    (local $n i32)
    (call $write_value (call $method (i32.const 1024) (i32.const 65536)))
    (drop (call $write (i32.const 0) (i32.const 1)))
    (call $write_value (call $url (i32.const 1024) (i32.const 65536)))
    (drop (call $write (i32.const 1) (i32.const 1)))
    (call $write_value (call $headers (i32.const 1024) (i32.const 65536)))
    (drop (call $write (i32.const 1) (i32.const 1)))
    (block $done
      (loop $more
        (local.set $n (call $body_read (i32.const 70000) (i32.const 4096)))
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $write (i32.const 70000) (local.get $n)))
        (br $more)))))
