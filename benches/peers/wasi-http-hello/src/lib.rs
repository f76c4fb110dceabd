//! "hello world" over wasi:http, the same answer as islet's hello-world
//! tenants, for `wasmtime serve`.

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("a fresh response has a body");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("the body's stream");
        stream
            .blocking_write_and_flush(b"hello world")
            .expect("write the body");
        drop(stream);
        OutgoingBody::finish(body, None).expect("finish the body");
    }
}

wasip2::http::proxy::export!(Hello);
