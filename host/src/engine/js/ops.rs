//! The native operations of the platform layer on V8: thin adapters from
//! V8 values to the engine-neutral operations in `islet-bindings` (see
//! `bindings/src/js.rs` for the list).
//!
//! [`table`] is the one list of operations: it builds the `ops` object and
//! the snapshot's external references, so the two cannot drift apart.

use std::time::Duration;

use bytes::Bytes;
use v8::MapFnTo;

use super::{Event, bytes_to_uint8array, host, v8_str};
use crate::outbound::{self, OutboundRequest, RedirectMode};

/// Every operation: its name on the `ops` object and its callback.
pub(super) fn table() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("utf8Encode", op_utf8_encode.map_fn_to()),
        ("utf8Decode", op_utf8_decode.map_fn_to()),
        ("log", op_log.map_fn_to()),
        ("now", op_now.map_fn_to()),
        ("timerStart", op_timer_start.map_fn_to()),
        ("timerCancel", op_timer_cancel.map_fn_to()),
        ("fetchStart", op_fetch_start.map_fn_to()),
        ("fetchCancel", op_fetch_cancel.map_fn_to()),
        ("waitUntilUsed", op_wait_until_used.map_fn_to()),
        ("bodyWrite", op_body_write.map_fn_to()),
        ("bodyRead", op_body_read.map_fn_to()),
        ("bodyCancel", op_body_cancel.map_fn_to()),
        ("urlParse", op_url_parse.map_fn_to()),
        ("urlSet", op_url_set.map_fn_to()),
        ("randomFill", op_random_fill.map_fn_to()),
        ("digest", op_digest.map_fn_to()),
        ("hmacSign", op_hmac_sign.map_fn_to()),
        ("hmacVerify", op_hmac_verify.map_fn_to()),
        ("aesGcm", op_aes_gcm.map_fn_to()),
        ("ecFromJwk", op_ec_from_jwk.map_fn_to()),
        ("ecFromRaw", op_ec_from_raw.map_fn_to()),
        ("ecFromDer", op_ec_from_der.map_fn_to()),
        ("ecGenerate", op_ec_generate.map_fn_to()),
        ("ecToJwk", op_ec_to_jwk.map_fn_to()),
        ("ecToRaw", op_ec_to_raw.map_fn_to()),
        ("ecdsaSign", op_ecdsa_sign.map_fn_to()),
        ("ecdsaVerify", op_ecdsa_verify.map_fn_to()),
        ("rsaFromJwk", op_rsa_from_jwk.map_fn_to()),
        ("rsaFromDer", op_rsa_from_der.map_fn_to()),
        ("rsaPublicParts", op_rsa_public_parts.map_fn_to()),
        ("rsaSign", op_rsa_sign.map_fn_to()),
        ("rsaVerify", op_rsa_verify.map_fn_to()),
    ]
}

/// The `ops` object handed to the platform layer.
pub(super) fn make_ops<'s>(scope: &mut v8::PinScope<'s, '_>) -> v8::Local<'s, v8::Object> {
    let ops = v8::Object::new(scope);
    for (name, callback) in table() {
        let function = v8::Function::new_raw(scope, callback).expect("an op function");
        let key = v8_str(scope, name).into();
        ops.create_data_property(scope, key, function.into());
    }
    ops
}

/// The external references a snapshot of the platform layer needs.
pub(super) fn external_references() -> Vec<v8::ExternalReference> {
    table()
        .into_iter()
        .map(|(_, function)| v8::ExternalReference { function })
        .collect()
}

fn throw_type_error(scope: &mut v8::PinScope, message: &str) {
    let message = v8_str(scope, message);
    let error = v8::Exception::type_error(scope, message);
    scope.throw_exception(error);
}

/// The bytes of an `ArrayBufferView` argument, copied.
fn bytes_arg(scope: &mut v8::PinScope, value: v8::Local<v8::Value>, op: &str) -> Option<Vec<u8>> {
    match value.try_cast::<v8::ArrayBufferView>() {
        Ok(view) => {
            let mut bytes = vec![0; view.byte_length()];
            view.copy_contents(&mut bytes);
            Some(bytes)
        }
        Err(_) => {
            throw_type_error(scope, &format!("{op} expects bytes"));
            None
        }
    }
}

/// Name/value pairs from a flat array `[name, value, name, value, ...]`.
pub(super) fn string_pairs(
    scope: &mut v8::PinScope,
    flat: v8::Local<v8::Array>,
) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(flat.length() as usize / 2);
    for i in (0..flat.length()).step_by(2) {
        let name = flat
            .get_index(scope, i)
            .map(|v| v.to_rust_string_lossy(scope));
        let value = flat
            .get_index(scope, i + 1)
            .map(|v| v.to_rust_string_lossy(scope));
        if let (Some(name), Some(value)) = (name, value) {
            pairs.push((name, value));
        }
    }
    pairs
}

pub(super) fn string_array<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    items: &[String],
) -> v8::Local<'s, v8::Value> {
    let values: Vec<v8::Local<v8::Value>> = items.iter().map(|s| v8_str(scope, s).into()).collect();
    v8::Array::new_with_elements(scope, &values).into()
}

/// `fetchStart(method, url, flatHeaders, body, redirect) -> id`: sends an
/// outbound request for the running request; its result arrives as an
/// event. Throws a `TypeError` when the tenant's policy refuses the URL.
fn op_fetch_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let method = args.get(0).to_rust_string_lossy(scope);
    let url = args.get(1).to_rust_string_lossy(scope);
    let headers = match args.get(2).try_cast::<v8::Array>() {
        Ok(flat) => string_pairs(scope, flat),
        Err(_) => Vec::new(),
    };
    let Some(body) = bytes_arg(scope, args.get(3), "fetchStart") else {
        return;
    };
    let redirect = match args.get(4).to_rust_string_lossy(scope).as_str() {
        "manual" => RedirectMode::Manual,
        "error" => RedirectMode::Error,
        _ => RedirectMode::Follow,
    };
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        throw_type_error(scope, &format!("`{method}` is not a valid HTTP method"));
        return;
    };

    // The policy answers now, so that a denied fetch rejects at once.
    let parsed = match url::Url::parse(&url) {
        Ok(parsed) => parsed,
        Err(e) => {
            throw_type_error(scope, &format!("invalid URL `{url}`: {e}"));
            return;
        }
    };
    let host_state = host(scope);
    if let Err(denied) = host_state.policy.check(&parsed) {
        throw_type_error(scope, &denied.to_string());
        return;
    }
    let Some(events) = host_state.current.as_ref().map(|l| l.events.clone()) else {
        throw_type_error(scope, "fetch can only be called while handling a request");
        return;
    };
    let id = host_state.next_fetch;
    host_state.next_fetch = host_state.next_fetch.wrapping_add(1).max(1);
    let policy = host_state.policy.clone();
    let max_body = host_state.max_fetch_body;
    let request = OutboundRequest {
        method,
        url,
        headers,
        body: Bytes::from(body),
        redirect,
    };
    let task = tokio::task::spawn_local(async move {
        let result = outbound::fetch(&policy, request, max_body).await;
        let _ = events.send(Event::Fetch(id, result));
    });
    host_state.fetches.insert(id, task.abort_handle());
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `waitUntilUsed()`: the running request has work for after its
/// response.
fn op_wait_until_used(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(link) = &host(scope).current {
        link.waits.set(true);
    }
}

/// `bodyWrite(bytes) -> id`: hands a response body chunk to the client;
/// `Event::Written` says when it was taken, so a slow client slows the
/// stream down instead of filling memory.
fn op_body_write(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(bytes) = bytes_arg(scope, args.get(0), "bodyWrite") else {
        return;
    };
    let host_state = host(scope);
    let Some(link) = host_state.current.clone() else {
        throw_type_error(scope, "bodyWrite outside of a request");
        return;
    };
    let id = host_state.next_fetch;
    host_state.next_fetch = host_state.next_fetch.wrapping_add(1).max(1);
    tokio::task::spawn_local(async move {
        let accepted = link.sink.send_chunk(Bytes::from(bytes)).await.is_ok();
        let _ = link.events.send(Event::Written(id, accepted));
    });
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `bodyRead() -> id`: asks for the next chunk of the running request's
/// streamed body; it arrives as `Event::BodyChunk`.
fn op_body_read(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let host_state = host(scope);
    let Some(link) = host_state.current.clone() else {
        throw_type_error(scope, "bodyRead outside of a request");
        return;
    };
    let id = host_state.next_fetch;
    host_state.next_fetch = host_state.next_fetch.wrapping_add(1).max(1);
    tokio::task::spawn_local(async move {
        // Reads never overlap (a stream pulls once at a time), so the
        // receiver can leave its cell while it waits.
        let receiver = link.body.borrow_mut().take();
        let chunk = match receiver {
            Some(mut receiver) => {
                let chunk = receiver.recv().await;
                *link.body.borrow_mut() = Some(receiver);
                chunk
            }
            None => None,
        };
        let _ = link.events.send(Event::BodyChunk(id, chunk));
    });
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `bodyCancel()`: drops the running request's streamed body, which stops
/// the upload.
fn op_body_cancel(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(link) = host(scope).current.clone() {
        link.body.borrow_mut().take();
    }
}

/// `fetchCancel(id)`.
fn op_fetch_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = args.get(0).uint32_value(scope)
        && let Some(task) = host(scope).fetches.remove(&id)
    {
        task.abort();
    }
}

/// `now() -> ms`: the frozen clock.
fn op_now(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let now = host(scope).now_ms;
    rv.set(v8::Number::new(scope, now).into());
}

/// `urlParse(input, base?) -> components | null`.
fn op_url_parse(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let input = args.get(0).to_rust_string_lossy(scope);
    let base = args.get(1);
    let base = (!base.is_undefined()).then(|| base.to_rust_string_lossy(scope));
    match islet_bindings::url::parse(&input, base.as_deref()) {
        Some(parts) => rv.set(string_array(scope, &parts)),
        None => rv.set_null(),
    }
}

/// `urlSet(href, component, value) -> components | null`.
fn op_url_set(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let href = args.get(0).to_rust_string_lossy(scope);
    let component = args.get(1).to_rust_string_lossy(scope);
    let value = args.get(2).to_rust_string_lossy(scope);
    match islet_bindings::url::set(&href, &component, &value) {
        Some(parts) => rv.set(string_array(scope, &parts)),
        None => rv.set_null(),
    }
}

/// `randomFill(u8) -> u8`: fills the view in place.
fn op_random_fill(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(view) = args.get(0).try_cast::<v8::Uint8Array>() else {
        throw_type_error(scope, "randomFill expects a Uint8Array");
        return;
    };
    let mut bytes = vec![0; view.byte_length()];
    islet_bindings::crypto::random_fill(&mut bytes);
    let fresh = bytes_to_uint8array(scope, &bytes);
    // Copy into the caller's view through JS's own `set`.
    let set_key = v8_str(scope, "set").into();
    if let Some(set) = view
        .get(scope, set_key)
        .and_then(|f| f.try_cast::<v8::Function>().ok())
    {
        set.call(scope, view.into(), &[fresh.into()]);
    }
    rv.set(view.into());
}

/// `digest(hash, bytes) -> u8`.
fn op_digest(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let Some(data) = bytes_arg(scope, args.get(1), "digest") else {
        return;
    };
    match islet_bindings::crypto::digest(&hash, &data) {
        Ok(out) => rv.set(bytes_to_uint8array(scope, &out).into()),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `hmacSign(hash, key, data) -> u8`.
fn op_hmac_sign(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data)) = (
        bytes_arg(scope, args.get(1), "hmacSign"),
        bytes_arg(scope, args.get(2), "hmacSign"),
    ) else {
        return;
    };
    match islet_bindings::crypto::hmac_sign(&hash, &key, &data) {
        Ok(tag) => rv.set(bytes_to_uint8array(scope, &tag).into()),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `hmacVerify(hash, key, data, tag) -> bool`.
fn op_hmac_verify(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data), Some(tag)) = (
        bytes_arg(scope, args.get(1), "hmacVerify"),
        bytes_arg(scope, args.get(2), "hmacVerify"),
        bytes_arg(scope, args.get(3), "hmacVerify"),
    ) else {
        return;
    };
    match islet_bindings::crypto::hmac_verify(&hash, &key, &data, &tag) {
        Ok(ok) => rv.set_bool(ok),
        Err(e) => throw_type_error(scope, &e.to_string()),
    }
}

/// `timerStart(ms, id?) -> id`: after `ms`, fires the timer as an event
/// of the request that started it. A timer started outside a request
/// (at module top level) never fires.
fn op_timer_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let ms = args.get(0).number_value(scope).unwrap_or(0.0);
    let ms = if ms.is_finite() {
        ms.clamp(0.0, 1e9)
    } else {
        0.0
    };
    let reuse = args.get(1).uint32_value(scope).filter(|id| *id != 0);
    let host = host(scope);
    let id = reuse.unwrap_or_else(|| {
        let id = host.next_timer;
        host.next_timer = host.next_timer.wrapping_add(1).max(1);
        id
    });
    if let Some(events) = host.current.as_ref().map(|l| l.events.clone()) {
        let delay = Duration::from_micros((ms * 1000.0) as u64);
        let task = tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::Timer(id));
        });
        if let Some(old) = host.timers.insert(id, task.abort_handle()) {
            old.abort();
        }
    }
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `timerCancel(id)`.
fn op_timer_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = args.get(0).uint32_value(scope)
        && let Some(timer) = host(scope).timers.remove(&id)
    {
        timer.abort();
    }
}

fn op_utf8_encode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let text = args.get(0).to_rust_string_lossy(scope);
    rv.set(bytes_to_uint8array(scope, text.as_bytes()).into());
}

fn op_utf8_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(bytes) = bytes_arg(scope, args.get(0), "utf8Decode") else {
        return;
    };
    if args.get(1).is_true() {
        match islet_bindings::text::utf8_decode_strict(&bytes) {
            Some(text) => rv.set(v8_str(scope, text).into()),
            None => rv.set_null(),
        }
        return;
    }
    let text = islet_bindings::text::utf8_decode_lossy(&bytes);
    rv.set(v8_str(scope, &text).into());
}

fn op_log(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let level = args.get(0).int32_value(scope).unwrap_or(1);
    let message = args.get(1).to_rust_string_lossy(scope);
    let tenant = host(scope).tenant.clone();
    islet_bindings::log::tenant_log(
        &tenant,
        islet_bindings::log::Level::from_i32(level),
        &message,
    );
}

// ---- Asymmetric keys and AES-GCM ----------------------------------------
//
// Keys cross the boundary as DER (PKCS#8 private, SPKI public); failures
// throw an `Error` whose message starts with the Web Crypto error name,
// which the JS layer turns into a `DOMException`.

use islet_bindings::crypto::{self as crypto, CryptoError, KeyDer};

fn throw_crypto(scope: &mut v8::PinScope, error: CryptoError) {
    let message = v8_str(scope, &error.to_string());
    let exception = v8::Exception::error(scope, message);
    scope.throw_exception(exception);
}

/// Optional bytes: `undefined` and `null` are `None`.
fn optional_bytes(
    scope: &mut v8::PinScope,
    value: v8::Local<v8::Value>,
    op: &str,
) -> Option<Option<Vec<u8>>> {
    if value.is_null_or_undefined() {
        return Some(None);
    }
    bytes_arg(scope, value, op).map(Some)
}

fn bytes_or_null<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bytes: Option<&[u8]>,
) -> v8::Local<'s, v8::Value> {
    match bytes {
        Some(bytes) => bytes_to_uint8array(scope, bytes).into(),
        None => v8::null(scope).into(),
    }
}

/// `[pkcs8 | null, spki]`.
fn key_der(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    result: Result<KeyDer, CryptoError>,
) {
    match result {
        Ok(key) => {
            let private = bytes_or_null(scope, key.private.as_deref());
            let public = bytes_to_uint8array(scope, &key.public).into();
            rv.set(v8::Array::new_with_elements(scope, &[private, public]).into());
        }
        Err(e) => throw_crypto(scope, e),
    }
}

fn bytes_result(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    result: Result<Vec<u8>, CryptoError>,
) {
    match result {
        Ok(bytes) => rv.set(bytes_to_uint8array(scope, &bytes).into()),
        Err(e) => throw_crypto(scope, e),
    }
}

fn bool_result(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    result: Result<bool, CryptoError>,
) {
    match result {
        Ok(ok) => rv.set_bool(ok),
        Err(e) => throw_crypto(scope, e),
    }
}

/// `aesGcm(encrypt, key, iv, data, aad) -> bytes`.
fn op_aes_gcm(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let encrypt = args.get(0).is_true();
    let (Some(key), Some(iv), Some(data), Some(aad)) = (
        bytes_arg(scope, args.get(1), "aesGcm"),
        bytes_arg(scope, args.get(2), "aesGcm"),
        bytes_arg(scope, args.get(3), "aesGcm"),
        bytes_arg(scope, args.get(4), "aesGcm"),
    ) else {
        return;
    };
    let result = crypto::aes_gcm(encrypt, &key, &iv, &data, &aad);
    bytes_result(scope, &mut rv, result);
}

/// `ecFromJwk(d | null, x, y) -> [pkcs8 | null, spki]`.
fn op_ec_from_jwk(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let (Some(d), Some(x), Some(y)) = (
        optional_bytes(scope, args.get(0), "ecFromJwk"),
        bytes_arg(scope, args.get(1), "ecFromJwk"),
        bytes_arg(scope, args.get(2), "ecFromJwk"),
    ) else {
        return;
    };
    let result = crypto::ec_from_jwk(d.as_deref(), &x, &y);
    key_der(scope, &mut rv, result);
}

/// `ecFromRaw(point) -> [null, spki]`.
fn op_ec_from_raw(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(point) = bytes_arg(scope, args.get(0), "ecFromRaw") else {
        return;
    };
    let result = crypto::ec_from_raw(&point);
    key_der(scope, &mut rv, result);
}

/// `ecFromDer(private, der) -> [pkcs8 | null, spki]`.
fn op_ec_from_der(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let private = args.get(0).is_true();
    let Some(der) = bytes_arg(scope, args.get(1), "ecFromDer") else {
        return;
    };
    let result = crypto::ec_from_der(private, &der);
    key_der(scope, &mut rv, result);
}

/// `ecGenerate() -> [pkcs8, spki]`.
fn op_ec_generate(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let result = crypto::ec_generate();
    key_der(scope, &mut rv, result);
}

/// `ecToJwk(pkcs8 | null, spki) -> [x, y, d | null]`.
fn op_ec_to_jwk(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let (Some(private), Some(public)) = (
        optional_bytes(scope, args.get(0), "ecToJwk"),
        bytes_arg(scope, args.get(1), "ecToJwk"),
    ) else {
        return;
    };
    match crypto::ec_to_jwk(&KeyDer { private, public }) {
        Ok(jwk) => {
            let x = bytes_to_uint8array(scope, &jwk.x).into();
            let y = bytes_to_uint8array(scope, &jwk.y).into();
            let d = bytes_or_null(scope, jwk.d.as_deref());
            rv.set(v8::Array::new_with_elements(scope, &[x, y, d]).into());
        }
        Err(e) => throw_crypto(scope, e),
    }
}

/// `ecToRaw(spki) -> point`.
fn op_ec_to_raw(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(spki) = bytes_arg(scope, args.get(0), "ecToRaw") else {
        return;
    };
    let result = crypto::ec_to_raw(&spki);
    bytes_result(scope, &mut rv, result);
}

/// `ecdsaSign(hash, pkcs8, data) -> signature`.
fn op_ecdsa_sign(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data)) = (
        bytes_arg(scope, args.get(1), "ecdsaSign"),
        bytes_arg(scope, args.get(2), "ecdsaSign"),
    ) else {
        return;
    };
    let result = crypto::ecdsa_sign(&hash, &key, &data);
    bytes_result(scope, &mut rv, result);
}

/// `ecdsaVerify(hash, spki, data, signature) -> bool`.
fn op_ecdsa_verify(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data), Some(signature)) = (
        bytes_arg(scope, args.get(1), "ecdsaVerify"),
        bytes_arg(scope, args.get(2), "ecdsaVerify"),
        bytes_arg(scope, args.get(3), "ecdsaVerify"),
    ) else {
        return;
    };
    let result = crypto::ecdsa_verify(&hash, &key, &data, &signature);
    bool_result(scope, &mut rv, result);
}

/// `rsaFromJwk(n, e, d?, p?, q?) -> [pkcs8 | null, spki]`.
fn op_rsa_from_jwk(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let (Some(n), Some(e), Some(d), Some(p), Some(q)) = (
        bytes_arg(scope, args.get(0), "rsaFromJwk"),
        bytes_arg(scope, args.get(1), "rsaFromJwk"),
        optional_bytes(scope, args.get(2), "rsaFromJwk"),
        optional_bytes(scope, args.get(3), "rsaFromJwk"),
        optional_bytes(scope, args.get(4), "rsaFromJwk"),
    ) else {
        return;
    };
    let private = match (&d, &p, &q) {
        (Some(d), Some(p), Some(q)) => Some((&d[..], &p[..], &q[..])),
        (None, _, _) => None,
        _ => {
            throw_crypto(
                scope,
                CryptoError {
                    kind: "DataError",
                    message: "a private RSA JWK needs d, p and q".into(),
                },
            );
            return;
        }
    };
    let result = crypto::rsa_from_jwk(&n, &e, private);
    key_der(scope, &mut rv, result);
}

/// `rsaFromDer(private, der) -> [pkcs8 | null, spki]`.
fn op_rsa_from_der(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let private = args.get(0).is_true();
    let Some(der) = bytes_arg(scope, args.get(1), "rsaFromDer") else {
        return;
    };
    let result = crypto::rsa_from_der(private, &der);
    key_der(scope, &mut rv, result);
}

/// `rsaPublicParts(spki) -> [n, e, modulusLength]`.
fn op_rsa_public_parts(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(spki) = bytes_arg(scope, args.get(0), "rsaPublicParts") else {
        return;
    };
    match crypto::rsa_public_parts(&spki) {
        Ok((n, e, bits)) => {
            let n = bytes_to_uint8array(scope, &n).into();
            let e = bytes_to_uint8array(scope, &e).into();
            let bits = v8::Integer::new_from_unsigned(scope, bits).into();
            rv.set(v8::Array::new_with_elements(scope, &[n, e, bits]).into());
        }
        Err(e) => throw_crypto(scope, e),
    }
}

/// `rsaSign(hash, pkcs8, data) -> signature`.
fn op_rsa_sign(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data)) = (
        bytes_arg(scope, args.get(1), "rsaSign"),
        bytes_arg(scope, args.get(2), "rsaSign"),
    ) else {
        return;
    };
    let result = crypto::rsa_sign(&hash, &key, &data);
    bytes_result(scope, &mut rv, result);
}

/// `rsaVerify(hash, spki, data, signature) -> bool`.
fn op_rsa_verify(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hash = args.get(0).to_rust_string_lossy(scope);
    let (Some(key), Some(data), Some(signature)) = (
        bytes_arg(scope, args.get(1), "rsaVerify"),
        bytes_arg(scope, args.get(2), "rsaVerify"),
        bytes_arg(scope, args.get(3), "rsaVerify"),
    ) else {
        return;
    };
    let result = crypto::rsa_verify(&hash, &key, &data, &signature);
    bool_result(scope, &mut rv, result);
}
