//! A progress bar on standard error: how many measurements are done, the
//! time spent, and what runs now. Results go to standard output, so the
//! bar never mixes with them when either is redirected.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

struct State {
    total: usize,
    done: usize,
    started: Instant,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Starts a bar of `total` steps.
pub fn start(total: usize) {
    *STATE.lock().unwrap() = Some(State {
        total,
        done: 0,
        started: Instant::now(),
    });
}

/// Marks the previous step done and shows `what` as the current one.
pub fn step(what: &str) {
    let mut state = STATE.lock().unwrap();
    let Some(state) = state.as_mut() else { return };
    state.done = (state.done + 1).min(state.total);
    draw(state, what);
}

/// Shows the bar complete.
pub fn finish() {
    let mut state = STATE.lock().unwrap();
    if let Some(state) = state.as_mut() {
        // One past the last step: every step complete.
        state.done = state.total + 1;
        draw(state, "done");
        eprintln!();
    }
}

fn draw(state: &State, what: &str) {
    const WIDTH: usize = 30;
    // Steps are counted when they start, so the one running shows as
    // under way: done - 1 complete.
    let complete = state.done.saturating_sub(1).min(state.total);
    let filled = WIDTH * complete / state.total.max(1);
    let elapsed = state.started.elapsed().as_secs();
    let line = format!(
        "[{}{}] {}/{} {:>2}:{:02} {what}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        complete,
        state.total,
        elapsed / 60,
        elapsed % 60
    );
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2K{line}");
    } else {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.flush();
}
