//! The `islet` import module: the host side of the ABI in
//! `bindings/ABI.md`.
//!
//! Every function checks the guest's pointers and lengths against its
//! memory; a bad one, or a call the ABI forbids (setting the status after
//! the head was sent, a head over [`MAX_HEAD`], an unknown fetch handle),
//! is a [`GuestError`]: the request fails, the log says what the guest
//! did, and the instance is discarded. The host is never at risk.

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use islet_bindings::abi::{self, code, import};
use islet_bindings::ops;
use wasmtime::bail;
use wasmtime::{Caller, Extern, Linker};

use super::HostState;
use crate::engine::{RequestBody, ResponseHead, ResponseSink, SinkError, TenantRequest};
use crate::outbound::{self, OutboundRequest, RedirectMode};

/// Largest response head (status line and headers) a guest may build.
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// Outbound responses a request may hold open at once.
const MAX_OPEN_FETCHES: usize = 64;

/// The guest broke the ABI's rules; fails the request.
#[derive(Debug)]
pub(super) struct GuestError(pub(super) String);

impl fmt::Display for GuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuestError {}

/// The request being handled and the response being built.
pub(super) struct CallState {
    request: TenantRequest,
    /// Body bytes received but not yet read by the guest.
    pending: Bytes,
    status: StatusCode,
    headers: HeaderMap,
    /// Bytes of the headers added so far.
    head_size: usize,
    sink: ResponseSink,
    head_sent: bool,
    /// Outbound responses by handle - 1; `None` once closed.
    fetches: Vec<Option<Fetched>>,
}

/// An outbound response the guest is reading.
struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    /// The part of the body the guest has not read yet.
    body: Bytes,
}

impl CallState {
    pub(super) fn new(request: TenantRequest, sink: ResponseSink) -> CallState {
        CallState {
            request,
            pending: Bytes::new(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            head_size: 0,
            sink,
            head_sent: false,
            fetches: Vec::new(),
        }
    }

    /// Ends the response: sends the head if the guest wrote no body.
    pub(super) fn finish(mut self) -> Result<(), SinkError> {
        if !self.head_sent {
            let head = self.head();
            self.sink.send_head(head)?;
        }
        self.sink.finish();
        Ok(())
    }

    fn head(&mut self) -> ResponseHead {
        ResponseHead {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
        }
    }
}

fn call_state<'a>(
    caller: &'a mut Caller<'_, HostState>,
    f: &str,
) -> wasmtime::Result<&'a mut CallState> {
    caller
        .data_mut()
        .call
        .as_mut()
        .ok_or_else(|| GuestError(format!("`{f}` called outside of a request")).into())
}

fn memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export(abi::MEMORY_EXPORT) {
        Some(Extern::Memory(m)) => Ok(m),
        _ => bail!(GuestError("the module has no memory export".into())),
    }
}

/// Copies guest bytes out, checking bounds.
fn read_guest(
    caller: &mut Caller<'_, HostState>,
    f: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    mem.data(&caller)
        .get(start..start.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            GuestError(format!(
                "`{f}` was given an out-of-bounds buffer (ptr={start}, len={len})"
            ))
            .into()
        })
}

fn read_guest_str(
    caller: &mut Caller<'_, HostState>,
    f: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Option<String>> {
    Ok(String::from_utf8(read_guest(caller, f, ptr, len)?).ok())
}

/// Copies `value` into the guest's `(buf, cap)`; returns the full length.
fn write_guest(
    caller: &mut Caller<'_, HostState>,
    f: &str,
    buf: i32,
    cap: i32,
    value: &[u8],
) -> wasmtime::Result<i32> {
    let mem = memory(caller)?;
    let (start, cap) = (buf as u32 as usize, cap as u32 as usize);
    let n = value.len().min(cap);
    let dest = mem
        .data_mut(&mut *caller)
        .get_mut(start..start.saturating_add(cap))
        .ok_or_else(|| {
            GuestError(format!(
                "`{f}` was given an out-of-bounds buffer (ptr={start}, len={cap})"
            ))
        })?;
    dest[..n].copy_from_slice(&value[..n]);
    i32::try_from(value.len()).map_err(|_| GuestError(format!("`{f}`: value too large")).into())
}

pub(super) fn define_abi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;

    linker.func_wrap(
        m,
        import::REQUEST_METHOD,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let f = import::REQUEST_METHOD;
            let method = call_state(&mut caller, f)?
                .request
                .method
                .as_str()
                .to_owned();
            write_guest(&mut caller, f, buf, cap, method.as_bytes())
        },
    )?;

    linker.func_wrap(
        m,
        import::REQUEST_URL,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let f = import::REQUEST_URL;
            let url = call_state(&mut caller, f)?.request.url.clone();
            write_guest(&mut caller, f, buf, cap, url.as_bytes())
        },
    )?;

    linker.func_wrap(
        m,
        import::REQUEST_HEADERS,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let f = import::REQUEST_HEADERS;
            let mut text = Vec::new();
            for (name, value) in &call_state(&mut caller, f)?.request.headers {
                text.extend_from_slice(name.as_str().as_bytes());
                text.extend_from_slice(b": ");
                text.extend_from_slice(value.as_bytes());
                text.push(b'\n');
            }
            write_guest(&mut caller, f, buf, cap, &text)
        },
    )?;

    linker.func_wrap(
        m,
        import::REQUEST_HEADER,
        |mut caller: Caller<'_, HostState>, name: i32, name_len: i32, buf: i32, cap: i32| {
            let f = import::REQUEST_HEADER;
            let Some(name) = read_guest_str(&mut caller, f, name, name_len)? else {
                return Ok(code::ABSENT);
            };
            let headers = &call_state(&mut caller, f)?.request.headers;
            let values: Vec<&[u8]> = headers
                .get_all(name.to_ascii_lowercase().as_str())
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            if values.is_empty() {
                return Ok(code::ABSENT);
            }
            let joined = values.join(&b", "[..]);
            write_guest(&mut caller, f, buf, cap, &joined)
        },
    )?;

    linker.func_wrap_async(
        m,
        import::REQUEST_BODY_READ,
        |mut caller: Caller<'_, HostState>, (buf, cap): (i32, i32)| {
            Box::new(async move {
                let f = import::REQUEST_BODY_READ;
                // Refill from the request body when the guest has read
                // everything received so far; a streamed body waits here.
                let call = call_state(&mut caller, f)?;
                if call.pending.is_empty() {
                    call.pending = match &mut call.request.body {
                        RequestBody::Full(bytes) => std::mem::take(bytes),
                        RequestBody::Stream(chunks) => match chunks.recv().await {
                            Some(Ok(chunk)) => chunk,
                            Some(Err(reason)) => bail!("the request body failed: {reason}"),
                            None => Bytes::new(),
                        },
                    };
                    caller.data().wasi.clock.advance();
                }
                let call = call_state(&mut caller, f)?;
                let n = call.pending.len().min(cap as u32 as usize);
                let chunk = call.pending.split_to(n);
                write_guest(&mut caller, f, buf, n as i32, &chunk)?;
                Ok(n as i32)
            })
        },
    )?;

    linker.func_wrap(
        m,
        import::RESPONSE_SET_STATUS,
        |mut caller: Caller<'_, HostState>, status: i32| {
            let f = import::RESPONSE_SET_STATUS;
            let call = call_state(&mut caller, f)?;
            if call.head_sent {
                bail!(after_head(f));
            }
            match u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
            {
                Some(s) => {
                    call.status = s;
                    Ok(0)
                }
                None => Ok(code::INVALID),
            }
        },
    )?;

    linker.func_wrap(
        m,
        import::RESPONSE_ADD_HEADER,
        |mut caller: Caller<'_, HostState>,
         name: i32,
         name_len: i32,
         value: i32,
         value_len: i32| {
            let f = import::RESPONSE_ADD_HEADER;
            let name = read_guest(&mut caller, f, name, name_len)?;
            let value = read_guest(&mut caller, f, value, value_len)?;
            let call = call_state(&mut caller, f)?;
            if call.head_sent {
                bail!(after_head(f));
            }
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&name),
                HeaderValue::from_bytes(&value),
            ) else {
                return Ok(code::INVALID);
            };
            call.head_size += name.as_str().len() + value.len() + 4;
            if call.head_size > MAX_HEAD {
                bail!(GuestError(format!(
                    "`{f}`: the response headers exceed {MAX_HEAD} bytes"
                )));
            }
            call.headers.append(name, value);
            Ok(0)
        },
    )?;

    linker.func_wrap_async(
        m,
        import::RESPONSE_WRITE,
        |mut caller: Caller<'_, HostState>, (buf, len): (i32, i32)| {
            Box::new(async move {
                let f = import::RESPONSE_WRITE;
                let chunk = Bytes::from(read_guest(&mut caller, f, buf, len)?);
                let call = call_state(&mut caller, f)?;
                let sink = call.sink.clone();
                if !call.head_sent {
                    call.head_sent = true;
                    let head = call.head();
                    if let Err(SinkError::Closed) = sink.send_head(head) {
                        return Ok(code::CLOSED);
                    }
                }
                let sent = sink.send_chunk(chunk).await;
                caller.data().wasi.clock.advance();
                match sent {
                    Ok(()) => Ok(0),
                    Err(_) => Ok(code::CLOSED),
                }
            })
        },
    )?;

    linker.func_wrap(
        m,
        import::ENV_GET,
        |mut caller: Caller<'_, HostState>, name: i32, name_len: i32, buf: i32, cap: i32| {
            let f = import::ENV_GET;
            let Some(name) = read_guest_str(&mut caller, f, name, name_len)? else {
                return Ok(code::ABSENT);
            };
            let Some(value) = caller.data().vars.get(&name).cloned() else {
                return Ok(code::ABSENT);
            };
            write_guest(&mut caller, f, buf, cap, value.as_bytes())
        },
    )?;

    linker.func_wrap(
        m,
        import::LOG,
        |mut caller: Caller<'_, HostState>, level: i32, msg: i32, len: i32| {
            let bytes = read_guest(&mut caller, import::LOG, msg, len)?;
            let text = islet_bindings::text::utf8_decode_lossy(&bytes);
            let level = islet_bindings::log::Level::from_i32(level);
            islet_bindings::log::tenant_log(&caller.data().tenant, level, &text);
            Ok(())
        },
    )?;

    define_fetch(linker)?;

    linker.func_wrap(
        m,
        import::RANDOM_FILL,
        |mut caller: Caller<'_, HostState>, buf: i32, len: i32| {
            let f = import::RANDOM_FILL;
            let mut bytes = vec![0; len as u32 as usize];
            islet_bindings::crypto::random_fill(&mut bytes);
            write_guest(&mut caller, f, buf, len, &bytes)?;
            Ok(0)
        },
    )?;

    linker.func_wrap(
        m,
        import::LAST_ERROR,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let message = caller.data().last_error.clone();
            write_guest(
                &mut caller,
                import::LAST_ERROR,
                buf,
                cap,
                message.as_bytes(),
            )
        },
    )?;

    Ok(())
}

fn after_head(f: &str) -> GuestError {
    GuestError(format!(
        "`{f}` was called after the response head was sent (by `response_write`)"
    ))
}

/// Records why a call failed, for `last_error`, and returns its code.
fn fail(caller: &mut Caller<'_, HostState>, code: i32, message: String) -> i32 {
    caller.data_mut().last_error = message;
    code
}

/// Parses `name: value\n` lines, the ABI's header list format.
fn parse_header_lines(text: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "the headers are not UTF-8".to_string())?;
    let mut headers = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("header line `{line}` has no `:`"));
        };
        let (name, value) = (name.trim(), value.trim());
        if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err()
        {
            return Err(format!("invalid header `{name}`"));
        }
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(headers)
}

fn header_lines(headers: &[(String, String)]) -> Vec<u8> {
    let mut text = Vec::new();
    for (name, value) in headers {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b": ");
        text.extend_from_slice(value.as_bytes());
        text.push(b'\n');
    }
    text
}

/// The open outbound response `handle`, or a guest error naming `f`.
fn fetched<'a>(
    caller: &'a mut Caller<'_, HostState>,
    f: &str,
    handle: i32,
) -> wasmtime::Result<&'a mut Fetched> {
    let call = call_state(caller, f)?;
    usize::try_from(handle)
        .ok()
        .and_then(|h| h.checked_sub(1))
        .and_then(|i| call.fetches.get_mut(i))
        .and_then(Option::as_mut)
        .ok_or_else(|| {
            GuestError(format!(
                "`{f}` was given {handle}, which is not an open fetch handle"
            ))
            .into()
        })
}

fn define_fetch(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;

    linker.func_wrap_async(
        m,
        import::FETCH,
        |mut caller: Caller<'_, HostState>,
         (method, method_len, url, url_len, headers, headers_len, body, body_len): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
        )| {
            Box::new(async move {
                let f = import::FETCH;
                let method = read_guest(&mut caller, f, method, method_len)?;
                let url = read_guest(&mut caller, f, url, url_len)?;
                let headers = read_guest(&mut caller, f, headers, headers_len)?;
                let body = Bytes::from(read_guest(&mut caller, f, body, body_len)?);
                let open = call_state(&mut caller, f)?
                    .fetches
                    .iter()
                    .filter(|h| h.is_some())
                    .count();
                if open >= MAX_OPEN_FETCHES {
                    bail!(GuestError(format!(
                        "`{f}`: {MAX_OPEN_FETCHES} responses are open already; close them with `{}`",
                        import::FETCH_CLOSE
                    )));
                }
                let Ok(method) = Method::from_bytes(&method) else {
                    let m = String::from_utf8_lossy(&method).into_owned();
                    return Ok(fail(&mut caller, code::INVALID, format!("invalid method `{m}`")));
                };
                let Ok(url) = String::from_utf8(url) else {
                    return Ok(fail(&mut caller, code::INVALID, "the URL is not UTF-8".into()));
                };
                let parsed = match url::Url::parse(&url) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        let message = format!("invalid URL `{url}`: {e}");
                        return Ok(fail(&mut caller, code::INVALID, message));
                    }
                };
                let headers = match parse_header_lines(&headers) {
                    Ok(headers) => headers,
                    Err(message) => return Ok(fail(&mut caller, code::INVALID, message)),
                };
                let state = caller.data();
                if let Err(denied) = state.policy.check(&parsed) {
                    return Ok(fail(&mut caller, code::DENIED, denied.to_string()));
                }
                let policy = state.policy.clone();
                let max_body = state.max_fetch_body;
                let request = OutboundRequest {
                    method,
                    url,
                    headers,
                    body,
                    redirect: RedirectMode::Follow,
                };
                let result = outbound::fetch(&policy, request, max_body).await;
                caller.data().wasi.clock.advance();
                let response = match result {
                    Ok(response) => response,
                    Err(message) => return Ok(fail(&mut caller, code::FAILED, message)),
                };
                let call = call_state(&mut caller, f)?;
                call.fetches.push(Some(Fetched {
                    status: response.status,
                    headers: response.headers,
                    body: response.body,
                }));
                Ok(i32::try_from(call.fetches.len()).unwrap_or(i32::MAX))
            })
        },
    )?;

    linker.func_wrap(
        m,
        import::FETCH_STATUS,
        |mut caller: Caller<'_, HostState>, handle: i32| {
            Ok(i32::from(
                fetched(&mut caller, import::FETCH_STATUS, handle)?.status,
            ))
        },
    )?;

    linker.func_wrap(
        m,
        import::FETCH_HEADERS,
        |mut caller: Caller<'_, HostState>, handle: i32, buf: i32, cap: i32| {
            let f = import::FETCH_HEADERS;
            let text = header_lines(&fetched(&mut caller, f, handle)?.headers);
            write_guest(&mut caller, f, buf, cap, &text)
        },
    )?;

    linker.func_wrap(
        m,
        import::FETCH_BODY_READ,
        |mut caller: Caller<'_, HostState>, handle: i32, buf: i32, cap: i32| {
            let f = import::FETCH_BODY_READ;
            let fetched = fetched(&mut caller, f, handle)?;
            let n = fetched.body.len().min(cap as u32 as usize);
            let chunk = fetched.body.split_to(n);
            write_guest(&mut caller, f, buf, n as i32, &chunk)?;
            Ok(n as i32)
        },
    )?;

    linker.func_wrap(
        m,
        import::FETCH_CLOSE,
        |mut caller: Caller<'_, HostState>, handle: i32| {
            let f = import::FETCH_CLOSE;
            fetched(&mut caller, f, handle)?;
            let call = call_state(&mut caller, f)?;
            call.fetches[handle as usize - 1] = None;
            Ok(0)
        },
    )?;

    Ok(())
}

/// The imports language runtimes use (`bindings/ABI.md`, "Runtimes"); any
/// module may call `env_names`, `op` and `fail`.
pub(super) fn define_runtime_abi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;

    linker.func_wrap(
        m,
        import::ENV_NAMES,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let mut names = Vec::new();
            for name in caller.data().vars.keys() {
                names.extend_from_slice(name.as_bytes());
                names.push(b'\n');
            }
            write_guest(&mut caller, import::ENV_NAMES, buf, cap, &names)
        },
    )?;

    linker.func_wrap(
        m,
        import::OP,
        |mut caller: Caller<'_, HostState>, name: i32, name_len: i32, args: i32, args_len: i32| {
            let f = import::OP;
            let Some(name) = read_guest_str(&mut caller, f, name, name_len)? else {
                bail!(GuestError("`op` was given a name that is not UTF-8".into()));
            };
            let args = read_guest(&mut caller, f, args, args_len)?;
            let args = match ops::decode(&args) {
                Ok(ops::Value::Array(args)) => args,
                Ok(_) => bail!(GuestError(format!(
                    "`op` `{name}`: arguments are not an array"
                ))),
                Err(e) => bail!(GuestError(format!("`op` `{name}`: {e}"))),
            };
            let (code, result) = match ops::call(&name, &args) {
                Ok(value) => (None, value),
                Err(e) => (
                    Some(code::ERROR),
                    ops::Value::Array(vec![
                        ops::Value::String(e.kind.into()),
                        ops::Value::String(e.message),
                    ]),
                ),
            };
            let state = caller.data_mut();
            state.op_result.clear();
            ops::encode(&result, &mut state.op_result);
            match code {
                Some(code) => Ok(code),
                None => i32::try_from(state.op_result.len())
                    .map_err(|_| GuestError("`op`: result too large".into()).into()),
            }
        },
    )?;

    linker.func_wrap(
        m,
        import::OP_RESULT,
        |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
            let result = std::mem::take(&mut caller.data_mut().op_result);
            let len = write_guest(&mut caller, import::OP_RESULT, buf, cap, &result);
            caller.data_mut().op_result = result;
            len
        },
    )?;

    linker.func_wrap(
        m,
        import::FAIL,
        |mut caller: Caller<'_, HostState>, kind: i32, msg: i32, len: i32| {
            let bytes = read_guest(&mut caller, import::FAIL, msg, len)?;
            let text = islet_bindings::text::utf8_decode_lossy(&bytes).into_owned();
            let failure = match kind {
                1 => Failure::NotAResponse(text),
                2 => Failure::Stalled,
                _ => Failure::Exception(text),
            };
            let state = caller.data_mut();
            // The first failure is the one to report.
            state.failure.get_or_insert(failure);
            Ok(())
        },
    )?;

    for (name, which) in [
        (import::RUNTIME_SOURCE, false),
        (import::RUNTIME_SOURCE_NAME, true),
    ] {
        linker.func_wrap(
            m,
            name,
            move |mut caller: Caller<'_, HostState>, buf: i32, cap: i32| {
                let Some(source) = caller.data().source.clone() else {
                    bail!(GuestError(format!(
                        "`{name}` called outside of a runtime's initialisation or load"
                    )));
                };
                let value = if which {
                    source.name.as_bytes()
                } else {
                    &source.text[..]
                };
                write_guest(&mut caller, name, buf, cap, value)
            },
        )?;
    }
    Ok(())
}

/// How a guest said its request failed (`fail`).
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// An uncaught exception, with its message and stack.
    Exception(String),
    /// The handler returned something that is not a response.
    NotAResponse(String),
    /// The handler's result can never arrive.
    Stalled,
}

/// What a runtime is given to load (`runtime_source`).
#[derive(Clone)]
pub(super) struct RuntimeSource {
    /// The file name, for messages.
    pub(super) name: std::sync::Arc<str>,
    /// The source.
    pub(super) text: std::sync::Arc<[u8]>,
}
