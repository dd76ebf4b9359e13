//! `keyward validate`'s text: every problem and warning, located, then what was validated.

use crate::report::text::esc;
use crate::world::problem::Problem;

/// Problems (then their count), warnings, or the lines saying what is valid.
pub fn text(problems: &[Problem], warnings: &[Problem], lines: &[String]) -> String {
    let mut s = String::new();
    for p in problems {
        s.push_str(&format!("error: {p}\n"));
    }
    for w in warnings {
        s.push_str(&format!("warning: {w}\n"));
    }
    if problems.is_empty() {
        for l in lines {
            s.push_str(&esc(l));
            s.push('\n');
        }
    } else {
        s.push_str(&format!("{} problem(s)\n", problems.len()));
    }
    s
}
