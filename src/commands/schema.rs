//! `hpcsub schema`: the JSON Schema of job files.

use serde::Serialize;

use super::outcome::Outcome;
use crate::diagnostic::AppError;

/// Print the JSON Schema of job files, for editors.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  hpcsub schema > hpcsub-job.schema.json")]
pub struct Args {}

/// The schema, the same document in both modes.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Schema(serde_json::Value);

impl Outcome for Schema {
    fn text(&self) -> String {
        serde_json::to_string_pretty(&self.0).expect("JSON")
    }
}

pub fn schema(_: &Args) -> Result<Schema, AppError> {
    Ok(Schema(
        serde_json::from_str(include_str!("../jobfile/schema.json"))
            .expect("the bundled schema is JSON"),
    ))
}
