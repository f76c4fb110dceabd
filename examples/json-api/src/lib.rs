//! A JSON API in Rust: a to-do list, routed on method and path, with serde.
//!
//! | method | path | answer |
//! |---|---|---|
//! | `GET` | `/todos` | every to-do |
//! | `POST` | `/todos` | `{"title": "..."}` adds one: `201` with it |
//! | `GET` | `/todos/{id}` | one to-do, or `404` |
//! | `PATCH` | `/todos/{id}` | `{"done": true}` updates it |
//! | `DELETE` | `/todos/{id}` | removes it: `204` |
//!
//! Errors are JSON too: `{"error": "..."}` with the right status (`400`
//! for a bad body, `404`, `405` with `allow`).
//!
//! The list lives in the instance's memory: it lasts as long as islet
//! keeps the instance (a real service would keep it elsewhere).

use std::sync::Mutex;

use islet_sdk::{Env, Error, Request, Response, Result};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Clone)]
struct Todo {
    id: u32,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

#[derive(Deserialize)]
struct Change {
    title: Option<String>,
    done: Option<bool>,
}

struct Store {
    next_id: u32,
    todos: Vec<Todo>,
}

static STORE: Mutex<Store> = Mutex::new(Store {
    next_id: 1,
    todos: Vec::new(),
});

fn handle(request: Request, _env: Env) -> Result<Response> {
    let segments: Vec<String> = request.url().path_segments().map(String::from).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let answer = match (request.method(), segments.as_slice()) {
        ("GET", ["todos"]) => list(),
        ("POST", ["todos"]) => create(request),
        (_, ["todos"]) => method_not_allowed("GET, POST"),
        (method, ["todos", id]) => {
            let id: u32 = id
                .parse()
                .map_err(|_| Error::bad_request(format!("`{id}` is not a to-do id")))?;
            match method {
                "GET" => get(id),
                "PATCH" => update(id, request),
                "DELETE" => delete(id),
                _ => method_not_allowed("GET, PATCH, DELETE"),
            }
        }
        _ => Err(Error::not_found()),
    };
    // Errors as JSON bodies rather than the SDK's plain text.
    answer.or_else(|error| {
        let status = error.status_code();
        if status >= 500 {
            islet_sdk::log::error(&error.to_string());
            return error_body(status, "internal error");
        }
        error_body(status, error.message())
    })
}

fn list() -> Result<Response> {
    Response::json(&STORE.lock().unwrap().todos)
}

fn create(request: Request) -> Result<Response> {
    let new: NewTodo = request.json()?;
    if new.title.trim().is_empty() {
        return Err(Error::bad_request("`title` must not be empty"));
    }
    let mut store = STORE.lock().unwrap();
    let todo = Todo {
        id: store.next_id,
        title: new.title,
        done: false,
    };
    store.next_id += 1;
    store.todos.push(todo.clone());
    Ok(Response::json(&todo)?
        .with_status(201)
        .with_header("location", format!("/todos/{}", todo.id)))
}

fn get(id: u32) -> Result<Response> {
    let store = STORE.lock().unwrap();
    match store.todos.iter().find(|t| t.id == id) {
        Some(todo) => Response::json(todo),
        None => Err(no_such(id)),
    }
}

fn update(id: u32, request: Request) -> Result<Response> {
    let change: Change = request.json()?;
    let mut store = STORE.lock().unwrap();
    let todo = store
        .todos
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or_else(|| no_such(id))?;
    if let Some(title) = change.title {
        todo.title = title;
    }
    if let Some(done) = change.done {
        todo.done = done;
    }
    Response::json(todo)
}

fn delete(id: u32) -> Result<Response> {
    let mut store = STORE.lock().unwrap();
    let before = store.todos.len();
    store.todos.retain(|t| t.id != id);
    if store.todos.len() == before {
        return Err(no_such(id));
    }
    Ok(Response::new(204))
}

fn no_such(id: u32) -> Error {
    Error::status(404, format!("no to-do with id {id}"))
}

fn method_not_allowed(allow: &str) -> Result<Response> {
    Ok(error_body(405, &format!("method not allowed; use {allow}"))?.with_header("allow", allow))
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn error_body(status: u16, message: &str) -> Result<Response> {
    Ok(Response::json(&ErrorBody { error: message })?.with_status(status))
}

islet_sdk::entry!(handle);
