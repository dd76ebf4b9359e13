//! `keyward run`'s output: one line (or JSON object) per step, the final state's changes, the
//! counts, and whether the world file was written.

use crate::evaluator::changes::Change;
use crate::evaluator::scenario::{Step, StepResult};
use crate::report::text::esc;
use crate::report::{changes, scenario};
use std::path::Path;

/// One step as run.
pub struct StepReport<'a> {
    /// Its number, from 1.
    pub n: usize,
    /// Whether it met its expectation.
    pub met: bool,
    pub step: &'a Step,
    pub result: StepResult,
}

/// A whole run, ready to print.
pub struct RunReport<'a> {
    pub script: &'a str,
    /// The world file, or `None` for an inline world.
    pub world: Option<&'a Path>,
    pub steps: Vec<StepReport<'a>>,
    /// From the first state to the final one.
    pub changes: Vec<Change>,
    pub failed: usize,
    pub written: bool,
    /// What happened to the world file, when there is something to say.
    pub note: Option<String>,
}

impl RunReport<'_> {
    /// The docs/cli.md JSON object, on one line.
    pub fn json(&self) -> String {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| scenario::step_json(s.n, s.step, &s.result))
            .collect();
        format!(
            "{}\n",
            serde_json::json!({
                "script": self.script,
                "world": self.world.map(|p| p.display().to_string()),
                "steps": steps,
                "changes": changes::changes_json(&self.changes),
                "passed": self.steps.len() - self.failed,
                "failed": self.failed,
                "written": self.written,
            })
        )
    }

    /// The text report: a heading, a line per step, the final state, the counts, the note.
    pub fn text(&self) -> String {
        let script = esc(self.script);
        let mut s = match self.world {
            Some(p) => format!("run {script} on {}\n", esc(&p.display().to_string())),
            None => format!("run {script} on its inline world\n"),
        };
        for st in &self.steps {
            s.push_str(&scenario::step_line(st.n, st.step, &st.result));
            s.push('\n');
        }
        if self.changes.is_empty() {
            s.push_str("final state: no change\n");
        } else {
            s.push_str(&format!(
                "final state: {} change(s)\n{}",
                self.changes.len(),
                changes::diff_text(&self.changes)
            ));
        }
        let total = self.steps.len();
        s.push_str(&format!(
            "{}: {} met their expectation, {} did not\n",
            super::text::count(total, "step"),
            total - self.failed,
            self.failed
        ));
        if let Some(n) = &self.note {
            s.push_str(&esc(n));
            s.push('\n');
        }
        s
    }
}
